import Foundation
import Testing

/// The repository owns its contracts: nothing it tracks points at the workspace it was written
/// in, docs/EVENTS.md, POLICIES.md and CLI.md are the contracts of the workspace's spec
/// directory with only their links rewritten, and every Markdown link resolves inside the
/// repository.
@Suite struct DocsTests {
    /// How the workspace beside the repository was named. Built from pieces so that this file
    /// does not mention what it forbids.
    static let workspace = "shared"
    static let research = "research"

    /// Strings that point outside the repository, to the workspace's spec and research notes.
    static let forbidden: [String] = [
        "../\(workspace)", "/work/\(workspace)", "\(workspace)/spec/", "\(workspace)/\(research)/",
        "\(research)/domain.md", "\(research)/kernel-2026.md",
    ]

    /// The only differences allowed between a workspace spec file and its copy in docs/: each
    /// `spec` string, wherever it occurs, becomes `repository`. Everything else is byte for
    /// byte the same.
    static let linkRewrites: [(spec: String, repository: String)] = [
        ("`../seeds/", "`seeds/thread/"),
        ("`../\(research)/domain.md`", "`docs/KERNEL.md`"),
        ("`../\(research)/kernel-2026.md`", "`docs/KERNEL.md` §3, §5"),
    ]

    static let contracts = ["EVENTS.md", "POLICIES.md", "CLI.md"]

    /// The workspace's spec directory, beside the repository, when this checkout has one.
    static let specDirectory: String? = {
        let path = URL(fileURLWithPath: repositoryRoot).deletingLastPathComponent()
            .appendingPathComponent("\(workspace)/spec").path
        return FileManager.default.fileExists(atPath: path + "/EVENTS.md") ? path : nil
    }()

    /// The repository's tracked files (`git ls-files`), or, outside a git checkout, every file
    /// below the root except build products and dot-directories. Paths are relative.
    static func trackedFiles() throws -> [String] {
        let git = Process()
        git.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        git.arguments = ["git", "-C", repositoryRoot, "ls-files", "-z"]
        let pipe = Pipe()
        git.standardOutput = pipe
        git.standardError = FileHandle.nullDevice
        if (try? git.run()) != nil {
            let data = pipe.fileHandleForReading.readDataToEndOfFile()
            git.waitUntilExit()
            if git.terminationStatus == 0 {
                return String(decoding: data, as: UTF8.self).split(separator: "\0").map(String.init)
            }
        }
        var files: [String] = []
        let enumerator = FileManager.default.enumerator(atPath: repositoryRoot)
        while let path = enumerator?.nextObject() as? String {
            let first = path.split(separator: "/").first.map(String.init) ?? path
            if first.hasPrefix(".") { enumerator?.skipDescendants(); continue }
            var isDirectory: ObjCBool = false
            if FileManager.default.fileExists(atPath: repositoryRoot + "/" + path, isDirectory: &isDirectory),
                !isDirectory.boolValue
            {
                files.append(path)
            }
        }
        return files
    }

    @Test func noTrackedFileOutsideCIPointsAtTheWorkspace() throws {
        let files = try Self.trackedFiles().filter { !$0.hasPrefix(".ci/") }
        #expect(files.contains("README.md"), "the file list is wrong: README.md is not in it")
        let needles = Self.forbidden.map { Data($0.utf8) }
        var offenders: [String] = []
        for file in files {
            guard let data = FileManager.default.contents(atPath: repositoryRoot + "/" + file) else { continue }
            for (needle, text) in zip(needles, Self.forbidden) where data.range(of: needle) != nil {
                offenders.append("\(file): mentions \(text)")
            }
        }
        #expect(offenders.isEmpty, "files that point outside the repository:\n\(offenders.joined(separator: "\n"))")
    }

    @Test(
        .enabled(if: specDirectory != nil, "no workspace spec directory beside the repository: nothing to compare"),
        arguments: contracts)
    func contractIsTheWorkspaceSpecWithItsLinksRewritten(_ name: String) throws {
        let spec = try String(contentsOfFile: Self.specDirectory! + "/" + name, encoding: .utf8)
        let copy = try String(contentsOfFile: repositoryRoot + "/docs/" + name, encoding: .utf8)
        var expected = spec
        for rewrite in Self.linkRewrites {
            expected = expected.replacingOccurrences(of: rewrite.spec, with: rewrite.repository)
        }
        // The contract verbatim, then optionally the project's own additions, under one heading
        // that says they are not the contract (commands and ops built beyond it).
        if copy == expected { return }
        if copy.hasPrefix(expected), copy.dropFirst(expected.count).hasPrefix(Self.additionsHeading) { return }
        let a = expected.split(separator: "\n", omittingEmptySubsequences: false)
        let b = copy.split(separator: "\n", omittingEmptySubsequences: false)
        let line = zip(a, b).enumerated().first { $0.element.0 != $0.element.1 }?.offset ?? min(a.count, b.count)
        Issue.record("""
            docs/\(name) is not the workspace's spec/\(name) with its links rewritten; first difference at line \(line + 1):
              spec (rewritten): \(line < a.count ? String(a[line]) : "<end of file>")
              docs:             \(line < b.count ? String(b[line]) : "<end of file>")
            Copy the spec again and apply DocsTests.linkRewrites.
            """)
    }

    /// Where a contract's copy in docs/ may go on past the contract: the project's additions.
    static let additionsHeading = "\n## Beyond the contract: this project's additions\n"

    /// A rewrite that no longer matches anything in the spec would hide a link left pointing
    /// outside: every rewrite must be used by some contract.
    @Test(.enabled(if: specDirectory != nil, "no workspace spec directory beside the repository"))
    func everyLinkRewriteIsUsed() throws {
        let texts = try Self.contracts.map { try String(contentsOfFile: Self.specDirectory! + "/" + $0, encoding: .utf8) }
        for rewrite in Self.linkRewrites {
            #expect(texts.contains { $0.contains(rewrite.spec) }, "no contract contains \(rewrite.spec)")
        }
    }

    @Test(arguments: contracts + ["KERNEL.md", "MODEL.md", "AUDIT.md", "TRACES.md"])
    func contractIsInTheRepository(_ name: String) throws {
        let text = try String(contentsOfFile: repositoryRoot + "/docs/" + name, encoding: .utf8)
        #expect(!text.isEmpty)
        // A path outside the repository is written `../…` from the repository root.
        for line in text.split(separator: "\n") where line.contains("`../") {
            Issue.record("docs/\(name) points outside the repository: \(line)")
        }
    }

    /// Every relative Markdown link `[text](path)` of the README and docs/ names a file of the
    /// repository.
    @Test func markdownLinksResolve() throws {
        let pages = try Self.trackedFiles().filter { $0 == "README.md" || ($0.hasPrefix("docs/") && $0.hasSuffix(".md")) }
        #expect(pages.count >= 8)
        let link = /\]\(([^)#\s]+)(#[^)]*)?\)/
        for page in pages {
            let text = try String(contentsOfFile: repositoryRoot + "/" + page, encoding: .utf8)
            let base = URL(fileURLWithPath: repositoryRoot + "/" + page).deletingLastPathComponent()
            for match in text.matches(of: link) {
                let target = String(match.output.1)
                if target.contains("://") || target.hasPrefix("mailto:") { continue }
                let resolved = base.appendingPathComponent(target).standardized.path
                #expect(resolved.hasPrefix(repositoryRoot + "/"), "\(page): \(target) leaves the repository")
                #expect(FileManager.default.fileExists(atPath: resolved), "\(page): \(target) does not exist")
            }
        }
    }
}
