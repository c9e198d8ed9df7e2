import Foundation
import Testing
@testable import GmemStore

/// `gmem-audit ingest` killed with SIGKILL at random moments: after every kill the store
/// verifies, holds exactly the first k whole files (batches) of a clean run, and re-running the
/// same ingest completes to the clean run's head, hash for hash.
///
/// The inputs carry no producer ids, so a re-run recognises the files already committed by
/// their content hash (`already ingested as batch …`) and appends the rest; a torn batch would
/// show up as a file neither skipped nor whole. (With ids the re-run would skip event by
/// event instead and reach the same head; the content hash is the stricter check here, because
/// it only matches a batch whose every byte was taken.)
@Suite(.serialized) struct CrashTests {
    static let files = 6
    static let perFile = 600
    static let rounds = 24

    @Test("SIGKILL during ingest, 24 times: verify passes, whole batches only, re-run reaches the clean head")
    func killDuringIngest() throws {
        _ = try requireCLI()
        let directory = NSTemporaryDirectory() + "gmem-crash-" + UUID().uuidString
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let inputs = try generatedFiles(in: directory, files: Self.files, perFile: Self.perFile)

        // The clean run: its chain, and the last seq of each batch.
        let cleanPath = directory + "/clean.db"
        let started = Date()
        let clean = try runCLI(["ingest", "--db", cleanPath] + inputs)
        let cleanSeconds = Date().timeIntervalSince(started)
        #expect(clean.status == 0, "\(clean.stderr)")
        let cleanStore = try Store(path: cleanPath, access: .readOnly(immutable: false))
        let cleanChain = try eventChain(cleanStore)
        #expect(cleanChain.count == Self.files * Self.perFile)
        var boundaries: [Int] = [0]
        for (index, link) in cleanChain.enumerated() where index + 1 == cleanChain.count || cleanChain[index + 1].batch != link.batch {
            boundaries.append(index + 1)
        }
        #expect(boundaries.count == Self.files + 1)

        var random = SeededGenerator(seed: UInt64(Date().timeIntervalSince1970 * 1000))
        var kills = 0
        var committedAtKill: [Int] = []
        // Kill until `rounds` kills have landed inside an ingest (at most three times as many
        // tries): on a loaded machine the clean run's time is only a guide, so a kill that comes
        // after the ingest finished makes the next delays shorter.
        var scale = 1.0
        var round = 0
        while kills < Self.rounds && round < Self.rounds * 3 {
            defer { round += 1 }
            let path = directory + "/round-\(round).db"
            let delay = Double.random(in: (cleanSeconds * 0.1 * scale)...(cleanSeconds * 0.95 * scale), using: &random)
            let process = try startCLI(["ingest", "--db", path] + inputs)
            Thread.sleep(forTimeInterval: delay)
            kill(process.processIdentifier, SIGKILL)
            let killed = finish(process)
            if killed.reason == .uncaughtSignal {
                kills += 1
            } else {
                #expect(killed.status == 0, "round \(round): the ingest failed on its own: \(killed.stderr)")
                scale *= 0.75
            }

            // What survived: nothing, or a store that verifies and holds whole batches.
            var batches = 0
            var survivor: Store?
            if FileManager.default.fileExists(atPath: path) {
                do {
                    survivor = try Store(path: path, access: .readOnly(immutable: false))
                } catch {
                    // Killed before the schema's migrations committed: an empty or partly
                    // migrated file, which the re-run migrates. Anything else is a failure.
                    let text = error.description
                    #expect(text.contains("no gmem schema") || text.contains("run an ingest to migrate it"), "round \(round): \(text)")
                }
            }
            if let store = survivor {
                let report = try store.database.readTransaction { try Verifier(store: store).run() }
                #expect(report.passed, "round \(round) (killed after \(delay) s): \(report.problems)")
                let chain = try eventChain(store)
                batches = boundaries.firstIndex(of: chain.count) ?? -1
                #expect(batches >= 0, "round \(round): \(chain.count) events is not a whole number of batches \(boundaries)")
                #expect(zip(chain, cleanChain).allSatisfy { $0.hash == $1.hash }, "round \(round): the surviving chain differs from the clean run")
            }
            committedAtKill.append(batches)

            // The same ingest again completes to the clean head.
            let rerun = try runCLI(["ingest", "--db", path] + inputs, environment: [:])
            #expect(rerun.status == 0, "round \(round): re-run failed: \(rerun.stderr)")
            #expect(rerun.stdout.components(separatedBy: "already ingested").count - 1 == max(batches, 0), "round \(round): \(rerun.stdout)")
            let store = try Store(path: path, access: .readOnly(immutable: false))
            let chain = try eventChain(store)
            #expect(chain.count == cleanChain.count)
            #expect(chain.last?.hash == cleanChain.last?.hash, "round \(round): re-run head differs from the clean run")
            #expect(zip(chain, cleanChain).allSatisfy { $0.hash == $1.hash })
            // The chain equals the clean one hash for hash; a full verify (replay, snapshots) of
            // the re-run store every fourth round keeps the test short.
            if round % 4 == 0 {
                let report = try Verifier(store: store).run()
                #expect(report.passed, "round \(round): \(report.problems.prefix(3))")
            }
        }
        // Most kills must land inside the ingest, or the test proves little.
        #expect(kills >= 20, "only \(kills) of \(round) kills landed before the ingest finished")
        let histogram = (0...Self.files).map { k in committedAtKill.filter { $0 == k }.count }
        print("crash: \(kills) SIGKILLs during ingest of \(Self.files) × \(Self.perFile) events (clean run \(String(format: "%.2f", cleanSeconds)) s); batches committed at kill 0…\(Self.files): \(histogram); all verified, all re-runs reached the clean head")
    }
}
