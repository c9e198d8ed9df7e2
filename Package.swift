// swift-tools-version:6.1
import PackageDescription

/// `GMEM_LIBFUZZER=1` (scripts/fuzz.sh, its own scratch path): the library and the fuzz harness
/// built with libFuzzer's coverage and AddressSanitizer, libFuzzer linked into gmem-fuzz alone
/// (the build-tool plugin's executable must stay an ordinary program). `GMEM_LIBFUZZER=fast`:
/// libFuzzer's coverage alone, without AddressSanitizer, for the fast in-memory target, which
/// ASan's allocator and quarantine slowed below 10,000 inputs a second.
let libFuzzer = Context.environment["GMEM_LIBFUZZER"]
let fuzzing = libFuzzer == "1" || libFuzzer == "fast"
let sanitizers = libFuzzer == "fast" ? "-sanitize=fuzzer" : "-sanitize=fuzzer,address"
let fuzzSwiftSettings: [SwiftSetting] = fuzzing ? [.unsafeFlags([sanitizers]), .define("GMEM_LIBFUZZER")] : []
let fuzzLinkerSettings: [LinkerSetting] = fuzzing ? [.unsafeFlags([sanitizers, "-use-ld=lld"])] : []

/// The CLI links the Swift runtime and Foundation statically and glibc dynamically. Every command
/// is a new process, and with a dynamic Swift runtime the start alone cost more than a page's
/// history: a dynamic Foundation ~7 ms of relocations and initialisers, a PIE's ~84k relative
/// relocations ~1.3 ms of copy-on-write faults. An empty `history` took 10.7 ms of CPU fully
/// dynamic and ~4 ms fully static (perf stat, docs/FORENSICS.md). It was one static executable
/// until trace.dat: libtracecmd (Debian ships it shared only) must be loaded with dlopen, and a
/// static glibc's dlopen gives the loaded library no thread-local storage (libtracecmd faults
/// on its first `__thread` variable). So glibc, and with it the loader, is dynamic, and the
/// executable is not a PIE (no relative relocations to apply): `--version` takes 5.9-6.8 ms of
/// CPU against 4.0-4.1 static (debug build, perf stat -r 200), 4.0 ms as a release build
/// (docs/TRACES.md). SQLite, zlib and zstd
/// come in as the module maps name them (shared). The group names the static Foundation's
/// archives, which modules compiled against the shared Foundation do not; lld, because it
/// links faster.
let foundationArchives: [String] = [
    "Foundation", "CoreFoundation", "FoundationInternationalization", "_FoundationICU", "FoundationEssentials",
    "_FoundationCShims", "_FoundationCollections", "swiftSynchronization", "stdc++", "m", "pthread", "dl",
]
let staticHead: [String] = ["-static-stdlib", "-use-ld=lld", "-Xlinker", "-no-pie", "-Xlinker", "-Bstatic"]
let staticGroup: [String] = ["-Xlinker", "--start-group"] + foundationArchives.flatMap { ["-Xlinker", "-l" + $0] } + ["-Xlinker", "--end-group"]
let staticTail: [String] = ["-Xlinker", "-Bdynamic"]
let staticRuntime: [LinkerSetting] = [
    .unsafeFlags(staticHead + staticGroup + staticTail, .when(platforms: [.linux]))
]

let package = Package(
    name: "gmem",
    platforms: [.macOS(.v13)],
    products: [
        .library(name: "GmemStore", targets: ["GmemStore"]),
        .library(name: "GmemPolicy", targets: ["GmemPolicy"]),
        .executable(name: "gmem-audit", targets: ["gmem-audit"]),
        .executable(name: "gmem-fuzz", targets: ["gmem-fuzz"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-crypto", from: "3.12.3"),
        .package(url: "https://github.com/x-sheep/swift-property-based", from: "2.0.1"),
        .package(url: "https://github.com/jpsim/Yams", exact: "5.0.1"),
    ],
    targets: [
        .systemLibrary(
            name: "CSQLite",
            path: "Sources/CSQLite",
            pkgConfig: "sqlite3",
            providers: [.apt(["libsqlite3-dev"])]
        ),
        .systemLibrary(
            name: "CZlib",
            path: "Sources/CZlib",
            pkgConfig: "zlib",
            providers: [.apt(["zlib1g-dev"])]
        ),
        .systemLibrary(
            name: "CZstd",
            path: "Sources/CZstd",
            pkgConfig: "libzstd",
            providers: [.apt(["libzstd-dev"])]
        ),
        /// trace.dat through libtracecmd and libtraceevent, loaded with dlopen when a trace.dat is
        /// met (docs/TRACES.md): their headers are needed to build (libtracecmd-dev,
        /// libtraceevent-dev), the libraries only to read a trace.dat.
        .target(
            name: "CTraceDat",
            path: "Sources/CTraceDat",
            cSettings: [.unsafeFlags(["-I/usr/include/trace-cmd", "-I/usr/include/tracefs", "-I/usr/include/traceevent"])],
            linkerSettings: [.linkedLibrary("dl"), .linkedLibrary("pthread")]
        ),
        .plugin(
            name: "EmbedResources",
            capability: .buildTool(),
            path: "Plugins/EmbedResources"
        ),
        .target(
            name: "GmemStore",
            dependencies: [
                "CSQLite",
                "CZlib",
                "CZstd",
                "CTraceDat",
                .product(name: "Crypto", package: "swift-crypto"),
            ],
            path: "Sources/GmemStore",
            swiftSettings: fuzzSwiftSettings,
            plugins: ["EmbedResources"]
        ),
        /// Reading policy files (YAML, JSON): the only target that needs Yams, whose exact
        /// version pin a program using GmemStore alone should not inherit.
        .target(
            name: "GmemPolicy",
            dependencies: [
                "GmemStore",
                .product(name: "Yams", package: "Yams"),
            ],
            path: "Sources/GmemPolicy"
        ),
        .executableTarget(
            name: "gmem-audit",
            dependencies: [
                "GmemStore",
                "GmemPolicy",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            path: "Sources/gmem-audit",
            linkerSettings: staticRuntime
        ),
        .executableTarget(
            name: "gmem-bench",
            dependencies: [
                "GmemStore",
                "CSQLite",
                "CBenchHeap",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            path: "Benchmarks/gmem-bench"
        ),
        .target(
            name: "CBenchHeap",
            path: "Benchmarks/CBenchHeap"
        ),
        .systemLibrary(
            name: "CLibFuzzer",
            path: "Fuzz/CLibFuzzer"
        ),
        .target(
            name: "GmemFuzzing",
            dependencies: ["GmemStore"],
            path: "Fuzz/GmemFuzzing",
            swiftSettings: fuzzSwiftSettings
        ),
        .executableTarget(
            name: "gmem-fuzz",
            dependencies: ["GmemFuzzing", "GmemStore", "CLibFuzzer"],
            path: "Fuzz/gmem-fuzz",
            swiftSettings: fuzzSwiftSettings,
            linkerSettings: fuzzLinkerSettings
        ),
        .testTarget(
            name: "GmemStoreTests",
            dependencies: [
                "GmemStore",
                "GmemPolicy",
                "GmemFuzzing",
                .product(name: "PropertyBased", package: "swift-property-based"),
            ],
            path: "Tests/GmemStoreTests"
        ),
    ]
)
