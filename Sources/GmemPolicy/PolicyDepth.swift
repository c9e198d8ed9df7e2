/// A bound on how deeply a policy file's collections nest, found from its text before any YAML
/// parser sees it. Yams builds and destroys its node tree by recursion, so a file nested a few
/// thousand deep (`[[[[…` in JSON, `- - - -…` or ever deeper indentation in YAML) overflowed
/// the stack and killed `audit` with a segmentation fault. A policy needs six levels (rules →
/// rule → exceptions → exception → range → offset); files deeper than `PolicyDepth.limit` are
/// refused with the line where the limit was passed.
enum PolicyDepth {
    /// The deepest nesting a policy file may have: ten times what the format needs.
    static let limit = 64

    /// The first line (1-based) at which the nesting may exceed `limit`, or nil when it never
    /// does. The estimate never falls below the real depth: every level of YAML nesting is
    /// opened by a token counted here — deeper indentation, a `- ` or `? ` entry, a `:` key,
    /// a `[` or `{` — and an alias (`*name`) counts as deep as anything seen from its anchor
    /// (`&name`) on, less the anchor's own depth.
    static func lineExceedingLimit(_ text: String) -> Int? {
        /// One line of block structure still open: its indentation, the levels it opened, and
        /// whether it is a `key:` with its value on the lines below.
        struct Open {
            var indent: Int
            var levels: Int
            var opensValueBelow: Bool
            var isEntry: Bool
        }
        var open: [Open] = []
        var openLevels = 0
        var flow = 0
        /// The deepest line from each line on: (line, depth), depths falling, so that the
        /// deepest line since an anchor is the first entry at or after the anchor's line.
        var deepestFrom: [(line: Int, depth: Int)] = []
        var anchors: [Substring: (line: Int, depth: Int)] = [:]
        func name(at start: Int, in bytes: [UInt8]) -> Substring {
            var end = start
            while end < bytes.count, ![UInt8(ascii: " "), UInt8(ascii: ","), UInt8(ascii: "]"), UInt8(ascii: "}"), UInt8(ascii: "\t")].contains(bytes[end]) { end += 1 }
            return Substring(decoding: bytes[start..<end], as: UTF8.self)
        }
        var quote: UInt8?  // a quoted scalar still open from an earlier line
        var blockScalarIndent: Int?
        var lineNumber = 0
        for line in text.utf8.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: false) {
            lineNumber += 1
            let bytes = Array(line.last == UInt8(ascii: "\r") ? line.dropLast() : line)
            let indent = bytes.prefix(while: { $0 == UInt8(ascii: " ") }).count
            let blank = indent == bytes.count || bytes[indent] == UInt8(ascii: "#")
            if let parent = blockScalarIndent {
                if blank || indent > parent { continue }
                blockScalarIndent = nil
            }
            if blank && quote == nil { continue }
            var levels = 0
            if quote == nil && flow == 0 {
                let startsEntry = indent + 1 < bytes.count && bytes[indent] == UInt8(ascii: "-") && bytes[indent + 1] == UInt8(ascii: " ")
                while let top = open.last,
                    top.indent > indent || (top.indent == indent && !(top.opensValueBelow && !top.isEntry && startsEntry))
                {
                    openLevels -= top.levels
                    open.removeLast()
                }
                levels = 1
            }
            var depth = openLevels + levels + flow
            var index = indent
            var lastSignificant: UInt8 = 0
            while index < bytes.count {
                let byte = bytes[index]
                if let closing = quote {
                    if closing == UInt8(ascii: "\"") && byte == UInt8(ascii: "\\") {
                        index += 2
                        continue
                    }
                    if byte == closing {
                        if closing == UInt8(ascii: "'"), index + 1 < bytes.count, bytes[index + 1] == closing {
                            index += 2
                            continue
                        }
                        quote = nil
                        lastSignificant = byte
                    }
                    index += 1
                    continue
                }
                let atTokenStart = index == indent || [UInt8(ascii: " "), UInt8(ascii: "["), UInt8(ascii: "{"), UInt8(ascii: ",")].contains(bytes[index - 1])
                let next = index + 1 < bytes.count ? bytes[index + 1] : UInt8(ascii: " ")
                let separated = next == UInt8(ascii: " ") || next == UInt8(ascii: "\t") || index + 1 == bytes.count
                if byte == UInt8(ascii: "#") && (index == indent || bytes[index - 1] == UInt8(ascii: " ")) {
                    break  // a comment: the rest of the line
                } else if (byte == UInt8(ascii: "\"") || byte == UInt8(ascii: "'")) && atTokenStart {
                    quote = byte
                } else if byte == UInt8(ascii: "[") || byte == UInt8(ascii: "{") {
                    flow += 1
                    depth += 1
                } else if byte == UInt8(ascii: "]") || byte == UInt8(ascii: "}") {
                    flow = max(0, flow - 1)
                } else if (byte == UInt8(ascii: ":") || ((byte == UInt8(ascii: "-") || byte == UInt8(ascii: "?")) && atTokenStart)) && separated {
                    // A key, a sequence entry or a complex key: each may open a level.
                    depth += 1
                    if flow == 0 { levels += 1 }
                } else if byte == UInt8(ascii: "&") && atTokenStart {
                    anchors[name(at: index + 1, in: bytes)] = (lineNumber, depth)
                } else if byte == UInt8(ascii: "*") && atTokenStart {
                    // An alias repeats its anchor's node, which is no deeper than the deepest
                    // line since the anchor, less the anchor's own depth.
                    var extent = 1
                    if let anchor = anchors[name(at: index + 1, in: bytes)] {
                        var low = 0
                        var high = deepestFrom.count
                        while low < high {
                            let middle = (low + high) / 2
                            if deepestFrom[middle].line < anchor.line { low = middle + 1 } else { high = middle }
                        }
                        let deepest = max(low < deepestFrom.count ? deepestFrom[low].depth : 0, depth)
                        extent = max(1, deepest - anchor.depth + 1)
                    }
                    depth += extent
                } else if (byte == UInt8(ascii: "|") || byte == UInt8(ascii: ">")) && atTokenStart && flow == 0 {
                    // A block scalar header (`|`, `>-`, `|2`…): the more indented lines below are its text.
                    let header = bytes[(index + 1)...].prefix(while: { $0 != UInt8(ascii: "#") })
                    if header.allSatisfy({ $0 == UInt8(ascii: " ") || $0 == UInt8(ascii: "+") || $0 == UInt8(ascii: "-") || (UInt8(ascii: "0")...UInt8(ascii: "9")).contains($0) }) {
                        blockScalarIndent = indent
                    }
                }
                if byte != UInt8(ascii: " ") { lastSignificant = byte }
                if depth > limit { return lineNumber }
                index += 1
            }
            if depth > limit { return lineNumber }
            while let last = deepestFrom.last, last.depth <= depth { deepestFrom.removeLast() }
            deepestFrom.append((lineNumber, depth))
            if levels > 0 {
                open.append(Open(
                    indent: indent, levels: levels, opensValueBelow: lastSignificant == UInt8(ascii: ":"),
                    isEntry: indent + 1 < bytes.count && bytes[indent] == UInt8(ascii: "-") && bytes[indent + 1] == UInt8(ascii: " ")))
                openLevels += levels
            }
        }
        return nil
    }
}
