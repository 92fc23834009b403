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
                "LabCore", "LabDoctor", "LabImage", "LabContainer", "LabVirt", "LabAgentCore", "LabRunner", "LabReport",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        .target(name: "LabCore", dependencies: ["CLabShim", .product(name: "Yams", package: "Yams")]),
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
        .target(name: "LabContainer", dependencies: ["LabCore", "CLabShim", "CLabSpawn", "CLibcap"]),
        .systemLibrary(
            name: "CZlib",
            pkgConfig: "zlib",
            providers: [.apt(["zlib1g-dev"])]
        ),
        .target(name: "LabImage", dependencies: ["LabCore", "LabAgentCore", "CZlib"]),
        .target(
            name: "LabVirt",
            dependencies: [
                "LabCore", "LabImage", "LabAgentCore", "CLibvirt", "CLabShim",
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        .target(
            name: "LabDoctor",
            dependencies: [
                "LabCore", "LabContainer", "LabVirt", "CLabShim",
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        .target(name: "LabStats"),
        .target(
            name: "LabReport",
            dependencies: ["LabCore", "LabRunner", "LabStats", .product(name: "CSV", package: "CSV.swift")]
        ),
        .target(
            name: "LabRunner",
            dependencies: ["LabCore", "LabAgentCore", "LabStats", "LabImage", "LabContainer", "LabVirt", "LabDoctor", "CLabShim"]
        ),
        .executableTarget(
            name: "isolab-bench",
            dependencies: [
                "LabCore", "LabAgentCore", "LabRunner", "LabStats", "LabImage", "LabContainer", "LabVirt",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            path: "Benchmarks/isolab-bench"
        ),
        .testTarget(name: "LabCoreTests", dependencies: ["LabCore"]),
        .testTarget(name: "LabStatsTests", dependencies: ["LabStats"]),
        .testTarget(
            name: "LabReportTests",
            dependencies: ["LabReport", "LabRunner", "LabCore", "LabStats", .product(name: "CSV", package: "CSV.swift")],
            exclude: ["Fixtures"]
        ),
        .testTarget(name: "LabAgentCoreTests", dependencies: ["LabAgentCore"]),
        .testTarget(name: "LabContainerTests", dependencies: ["LabContainer", "LabCore"]),
        .testTarget(name: "LabVirtTests", dependencies: ["LabVirt", "LabCore"], exclude: ["Golden"]),
        .testTarget(name: "LabImageTests", dependencies: ["LabImage", "LabCore", "LabAgentCore"]),
        .testTarget(name: "LabDoctorTests", dependencies: ["LabDoctor", "LabCore", "LabContainer", "LabVirt"]),
        .testTarget(
            name: "IntegrationTests",
            dependencies: ["LabCore", "LabDoctor", "LabContainer", "LabVirt", "LabImage", "LabAgentCore", "LabRunner", "LabReport"]),
    ],
    swiftLanguageModes: [.v6]
)
