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
}
