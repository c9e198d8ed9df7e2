// swift-tools-version:6.1
import PackageDescription

let package = Package(
    name: "gmem",
    platforms: [.macOS(.v13)],
    products: [
        .library(name: "GmemStore", targets: ["GmemStore"]),
        .executable(name: "gmem-audit", targets: ["gmem-audit"]),
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
        .executableTarget(
            name: "gmem-embed",
            path: "Sources/gmem-embed"
        ),
        .plugin(
            name: "EmbedResources",
            capability: .buildTool(),
            dependencies: ["gmem-embed"],
            path: "Plugins/EmbedResources"
        ),
        .target(
            name: "GmemStore",
            dependencies: [
                "CSQLite",
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "Yams", package: "Yams"),
            ],
            path: "Sources/GmemStore",
            plugins: ["EmbedResources"]
        ),
        .executableTarget(
            name: "gmem-audit",
            dependencies: [
                "GmemStore",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            path: "Sources/gmem-audit"
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
        .testTarget(
            name: "GmemStoreTests",
            dependencies: [
                "GmemStore",
                .product(name: "PropertyBased", package: "swift-property-based"),
            ],
            path: "Tests/GmemStoreTests"
        ),
    ]
)
