extension String {
    /// True when the two result names are equal ignoring case, as `uppercased()` compares them,
    /// without allocating: result names are ASCII (`ok`, `EIO`, `TDX_OPERAND_BUSY`), and only a
    /// name with other characters takes Unicode's case mapping.
    func sameResultName(as other: String) -> Bool {
        // The common case, the same name as written (`ok` and `ok`): no byte walk.
        if self == other { return true }
        var lhs = utf8.makeIterator()
        var rhs = other.utf8.makeIterator()
        while true {
            switch (lhs.next(), rhs.next()) {
            case (nil, nil):
                return true
            case (let a?, let b?):
                if a >= 0x80 || b >= 0x80 { return uppercased() == other.uppercased() }
                if a == b { continue }
                let upperA = a >= 0x61 && a <= 0x7A ? a - 0x20 : a
                let upperB = b >= 0x61 && b <= 0x7A ? b - 0x20 : b
                if upperA != upperB { return false }
            case (let a?, nil):
                return a >= 0x80 ? uppercased() == other.uppercased() : false
            case (nil, let b?):
                return b >= 0x80 ? uppercased() == other.uppercased() : false
            }
        }
    }
}
