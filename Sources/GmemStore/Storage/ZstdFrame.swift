import CZstd

/// One zstd frame, compressed or read back: the stored input's chunks, snapshots and event
/// packs each keep their data in frames made here.
enum ZstdFrame {
    /// One frame of `bytes` at `level`, with its content size in the frame header: a context
    /// made for it alone (a snapshot, a chunk of an input; many small frames keep a
    /// `Compressor`).
    static func compress(_ bytes: [UInt8], level: Int32) -> [UInt8] {
        Compressor().compress(bytes, level: level)
    }

    /// A compression context kept for many small frames (an event pack a block): zstd need not
    /// set one up, and allocate its tables, for each.
    final class Compressor {
        private let context: OpaquePointer

        init() {
            guard let context = ZSTD_createCCtx() else { fatalError("zstd: out of memory for a compression context") }
            self.context = context
        }

        deinit { ZSTD_freeCCtx(context) }

        /// One frame of `bytes` at `level`, with its content size in the frame header.
        /// Compressing into a buffer of `ZSTD_compressBound` bytes cannot fail.
        func compress(_ bytes: [UInt8], level: Int32) -> [UInt8] {
            let bound = ZSTD_compressBound(bytes.count)
            var out = [UInt8](repeating: 0, count: bound)
            let written = bytes.withUnsafeBytes { source in
                out.withUnsafeMutableBytes { ZSTD_compressCCtx(context, $0.baseAddress, bound, source.baseAddress, source.count, level) }
            }
            precondition(ZSTD_isError(written) == 0, "zstd: \(String(cString: ZSTD_getErrorName(written)))")
            out.removeSubrange(written...)
            return out
        }
    }

    /// A decompression context kept for many small frames (a replay reads a pack every
    /// `EventPack.eventsPerBlock` events).
    final class Decompressor {
        private let context: OpaquePointer

        init() {
            guard let context = ZSTD_createDCtx() else { fatalError("zstd: out of memory for a decompression context") }
            self.context = context
        }

        deinit { ZSTD_freeDCtx(context) }

        /// Decompresses `frame` into `out` (its content, resized to fit); false when it is not
        /// one whole frame, names no content size, or holds more than `limit` bytes.
        func decompress(_ frame: UnsafeRawBufferPointer, into out: inout [UInt8], limit: Int) -> Bool {
            guard let base = frame.baseAddress else { return false }
            let size = ZSTD_getFrameContentSize(base, frame.count)
            // ZSTD_CONTENTSIZE_UNKNOWN and _ERROR are the two largest values.
            guard size <= UInt64(limit) else { return false }
            if out.count != Int(size) { out = [UInt8](repeating: 0, count: Int(size)) }
            let written = out.withUnsafeMutableBytes { ZSTD_decompressDCtx(context, $0.baseAddress, $0.count, base, frame.count) }
            return ZSTD_isError(written) == 0 && written == Int(size)
        }
    }
}
