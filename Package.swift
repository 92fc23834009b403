// swift-tools-version: 6.1
import PackageDescription

// Data flows one way (see ../shared/STYLE.md): scenario -> plan -> image ->
// bare | container | VM -> trial records -> statistics -> reports.
// C libraries are linked only from the one target that wraps each of them:
// CLibcap from LabContainer, CLibvirt from LabVirt.
let package = Package(
    name: "isolab",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "isolab", targets: ["isolab"]),
        .executable(name: "isolab-agent", targets: ["isolab-agent"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        .package(url: "https://github.com/jpsim/Yams", from: "6.2.2"),
        .package(url: "https://github.com/yaslab/CSV.swift", from: "2.5.2"),
    ],
    targets: [
        .executableTarget(
            name: "isolab",
            dependencies: ["LabCommands"]
        ),
        .target(
            name: "LabCommands",
            dependencies: [
                "LabModel", "LabCore", "LabDoctor", "LabImage", "LabContainer", "LabVirt", "LabAgentCore", "LabRunner", "LabReport",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        // The plain data that crosses the pipeline: scenarios, trials, results,
        // host facts, the error type. Nothing but the standard library and Foundation.
        .target(name: "LabModel"),
        .target(name: "LabCore", dependencies: ["LabModel", "CLabShim", .product(name: "Yams", package: "Yams")]),
        // The agent runs inside every instance: no Foundation (small, fast to
        // start), the Swift runtime linked statically, and always optimised so
        // that its measurements do not depend on the build configuration.
        .executableTarget(
            name: "isolab-agent",
            dependencies: ["LabAgentCore", "CAgentInit"],
            swiftSettings: [.unsafeFlags(["-O"])],
            linkerSettings: [.unsafeFlags(["-static-executable"])]
        ),
        .target(name: "CAgentInit"),
        .target(
            name: "LabAgentCore",
            dependencies: ["CLabShim"],
            swiftSettings: [.unsafeFlags(["-O"])]
        ),
        .target(name: "CLabShim"),
        .systemLibrary(
            name: "CLibvirt",
            pkgConfig: "libvirt",
            providers: [.apt(["libvirt-dev"])]
        ),
        .systemLibrary(
            name: "CLibcap",
            pkgConfig: "libcap",
            providers: [.apt(["libcap-dev"])]
        ),
        .target(name: "CLabSpawn", dependencies: ["CLabShim"]),
        .target(name: "LabContainer", dependencies: ["LabModel", "LabCore", "CLabShim", "CLabSpawn", "CLibcap"]),
        .systemLibrary(
            name: "CZlib",
            pkgConfig: "zlib",
            providers: [.apt(["zlib1g-dev"])]
        ),
        .target(name: "LabImage", dependencies: ["LabModel", "LabCore", "LabAgentCore", "CZlib"]),
        .target(
            name: "LabVirt",
            dependencies: [
                "LabModel", "LabCore", "LabImage", "LabAgentCore", "CLibvirt", "CLabShim",
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        .target(
            name: "LabDoctor",
            dependencies: [
                "LabModel", "LabCore", "LabContainer", "LabVirt", "CLabShim",
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        .target(name: "LabStats", dependencies: ["LabModel"]),
        .target(
            name: "LabReport",
            dependencies: ["LabModel", "LabStats", .product(name: "CSV", package: "CSV.swift")]
        ),
        .target(
            name: "LabRunner",
            dependencies: ["LabModel", "LabCore", "LabAgentCore", "LabStats", "LabImage", "LabContainer", "LabVirt", "LabDoctor", "CLabShim"]
        ),
        .executableTarget(
            name: "isolab-bench",
            dependencies: [
                "LabModel", "LabCore", "LabRunner", "LabStats", "LabImage", "LabContainer", "LabVirt", "LabDoctor",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            path: "Benchmarks/isolab-bench"
        ),
        .testTarget(name: "LabModelTests", dependencies: ["LabModel"]),
        .testTarget(name: "LabCoreTests", dependencies: ["LabCore", "LabModel"]),
        .testTarget(name: "LabStatsTests", dependencies: ["LabStats", "LabModel"]),
        // Renders a committed results.json from a graph with no backend in it:
        // the proof that reports need neither libvirt nor libcap.
        .testTarget(
            name: "LabReportTests",
            dependencies: ["LabReport", "LabModel", "LabStats", .product(name: "CSV", package: "CSV.swift")],
            exclude: ["Fixtures"]
        ),
        .testTarget(name: "LabRunnerTests", dependencies: ["LabRunner", "LabModel", "LabCore", "LabStats", "LabAgentCore"]),
        .testTarget(name: "LabAgentCoreTests", dependencies: ["LabAgentCore"]),
        .testTarget(name: "LabContainerTests", dependencies: ["LabContainer", "LabCore", "LabModel"]),
        .testTarget(name: "LabVirtTests", dependencies: ["LabVirt", "LabCore", "LabModel"], exclude: ["Golden"]),
        .testTarget(name: "LabImageTests", dependencies: ["LabImage", "LabCore", "LabModel", "LabAgentCore"]),
        .testTarget(name: "LabDoctorTests", dependencies: ["LabDoctor", "LabCore", "LabModel", "LabContainer", "LabVirt"]),
        .testTarget(
            name: "IntegrationTests",
            dependencies: ["LabModel", "LabCore", "LabDoctor", "LabContainer", "LabVirt", "LabImage", "LabAgentCore", "LabRunner", "LabReport", "LabStats"]),
    ],
    swiftLanguageModes: [.v6]
)
