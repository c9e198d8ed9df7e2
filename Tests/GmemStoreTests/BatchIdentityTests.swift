import Foundation
import Testing
@testable import GmemStore

/// What makes two batches "the same": the same bytes read the same way. A file read with the
/// wrong format (which added nothing) never blocks the corrected ingest, and the same bytes read
/// with another `--vm` or `--kernel` are another batch; the same bytes read the same way again
/// add nothing.
@Suite struct BatchIdentityTests {
    @Test func aWrongFormatDoesNotBlockTheCorrectedIngest() throws {
        let temporary = try TemporaryStore()
        let path = try temporary.file("s.jsonl", generatedLog(events: 50, seed: 2, gmemSize: 8 << 20))
        let wrong = try MergeIngest().ingest([(path, .ftrace)], into: temporary.store)
        #expect(wrong.batch.added == 0 && wrong.batch.duplicateOfBatch == nil)
        let right = try MergeIngest().ingest([(path, nil)], into: temporary.store)
        #expect(right.batch.added == 50, "the corrected ingest was refused: \(right.batch)")
        let again = try MergeIngest().ingest([(path, nil)], into: temporary.store)
        #expect(again.batch.added == 0 && again.batch.duplicateOfBatch == right.batch.batch)
    }

    @Test func theSameBytesReadAnotherWayAreAnotherBatch() throws {
        let temporary = try TemporaryStore()
        let path = try temporary.file("s.jsonl", generatedLog(events: 40, seed: 5, gmemSize: 8 << 20))
        var rfc = MergeIngest()
        rfc.kernel = .rfc2025
        var upstream = MergeIngest()
        upstream.kernel = .upstream2026
        #expect(try rfc.ingest([(path, nil)], into: temporary.store).batch.added == 40)
        #expect(try rfc.ingest([(path, nil)], into: temporary.store).batch.duplicateOfBatch != nil)
        let other = try upstream.ingest([(path, nil)], into: temporary.store)
        #expect(other.batch.duplicateOfBatch == nil && other.batch.added > 0)
    }

    @Test("only an input of a size the store holds, read the same way, is hashed before it is read; the same bytes are still answered at once")
    func theSizeFilterBeforeTheWholeFileHash() throws {
        let temporary = try TemporaryStore()
        let text = generatedLog(events: 60, seed: 9, gmemSize: 8 << 20)
        let path = try temporary.file("a.jsonl", text)
        let ingest = MergeIngest()
        let readAs = ingest.readAs([try IngestSource(path: path, format: nil, quarantine: false, addsSource: true)])
        let size = Int64(text.utf8.count)
        #expect(try !temporary.store.mayHoldInputs(sizes: [size], readAs: readAs))
        #expect(try ingest.ingest([(path, nil)], into: temporary.store).batch.added == 60)
        #expect(try temporary.store.mayHoldInputs(sizes: [size], readAs: readAs))
        #expect(try !temporary.store.mayHoldInputs(sizes: [size + 1], readAs: readAs))
        #expect(try !temporary.store.mayHoldInputs(sizes: [size, size + 1], readAs: readAs))
        #expect(try !temporary.store.mayHoldInputs(sizes: [size], readAs: readAs + " vm=other"))
        // The same bytes again: answered with the batch that holds them before a line is read.
        let again = try IngestSource(path: path, format: nil, quarantine: false, addsSource: true)
        let summary = try ingest.ingest([again], into: temporary.store)
        #expect(summary.batch.duplicateOfBatch != nil && summary.batch.added == 0)
        #expect(again.linesRead == 0, "a held input was read before it was answered")
        // Other bytes of the same size (the lines in reverse): hashed, not held, added.
        let reversed = text.split(separator: "\n").reversed().joined(separator: "\n") + "\n"
        #expect(Int64(reversed.utf8.count) == size)
        let other = try ingest.ingest([(try temporary.file("b.jsonl", reversed), nil)], into: temporary.store)
        #expect(other.batch.duplicateOfBatch == nil && other.batch.added == 60)
        // A whole input a `watch` recorded (no size kept) keeps the filter open for that reading.
        try temporary.store.setSetting(WatchCheckpoint.wholePrefix + readAs + ":00", "1")
        #expect(try temporary.store.mayHoldInputs(sizes: [size + 1], readAs: readAs))
    }
}
