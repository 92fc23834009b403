// swift-tools-version: 6.1
import PackageDescription

// Data flows one way (see ../shared/STYLE.md): scenario -> plan -> image ->
// bare | container | VM -> trial records -> statistics -> reports. The
// targets depend on each other in the same direction, layer by layer, with
// no back-edge (a target names only targets of the layers above it):
//
//   LabModel                      plain Codable data: scenario, trial, results, host facts, LabError
//     <- LabStats                 statistics over the models (summaries, exact rank intervals)
//     <- LabAnalysis              verdicts, ratios, neighbour and density analysis: what reports show
//   LabWire (+ CLabShared)        the agent protocol, ids, SHA-256: Foundation-free, host and agent
//     <- LabAgentCore (+ CAgentShim)  the agent's workloads (no Foundation)
//     <- LabCore (+ CLabHost)     paths, clocks, files, processes, strict YAML (Yams)
//     <- LabImage (+ CZlib, CLibarchive) image definitions -> rootfs + initramfs, OCI images, the store
//     <- LabRegistry              pull and push over the OCI distribution API (async-http-client)
//     <- LabContainer (+ CLabSpawn, CLibcap, CLibseccomp)   the lab's own containers
//     <- LabVirt (+ CLibvirt)     libvirt guests
//     <- LabDoctor                host checks and the facts a run records
//     <- LabRunner                instances (one path for every backend), trials, checks
//     <- LabReport                JSON, CSV, HTML, text: formats LabAnalysis's values, links no backend
//     <- LabCommands <- isolab    the command line
//                    <- isolab-registry   the same, with LabRegistry: image pull and push
//
// C libraries are reached only from the one target that wraps each of them:
// CLibcap and CLibseccomp from LabContainer, CLibvirt (dlopened on first
// use) from LabVirt, CZlib and CLibarchive (dlopened) from LabImage.
let package = Package(
    name: "isolab",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "isolab", targets: ["isolab"]),
        .executable(name: "isolab-agent", targets: ["isolab-agent"]),
        .executable(name: "isolab-registry", targets: ["isolab-registry"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        .package(url: "https://github.com/jpsim/Yams", from: "6.2.2"),
        .package(url: "https://github.com/yaslab/CSV.swift", from: "2.5.2"),
        // The registry client (image pull/push): HTTP/1.1 with a connection
        // pool, redirects and streamed bodies, from the Swift server group.
        .package(url: "https://github.com/swift-server/async-http-client", from: "1.37.0"),
        .package(url: "https://github.com/apple/swift-nio", from: "2.101.2"),
        // package-benchmark (Benchmarks/<Name>/): MallocInterposer gives malloc
        // counts on Linux; the runtime interposer trait is left off (its
        // package is not in this machine's set, and ARC counts are not needed).
        .package(url: "https://github.com/ordo-one/benchmark", from: "1.38.1", traits: ["MallocInterposer"]),
    ],
    targets: [
        // Models and statistics.
        .target(name: "LabModel"),
        .target(name: "LabStats", dependencies: ["LabModel"]),
        .target(name: "LabAnalysis", dependencies: ["LabModel", "LabStats"]),

        // The wire between the host and the agent: the line protocol, the
        // workloads' contract, percent encoding, SHA-256, ids and errno
        // names. No Foundation: the agent links it too.
        .target(name: "CLabShared"),
        .target(name: "LabWire", dependencies: ["CLabShared"], swiftSettings: [.unsafeFlags(["-O"])]),

        // The host's C seam, and its core.
        .target(name: "CLabHost"),
        .target(name: "LabCore", dependencies: ["LabModel", "LabWire", "CLabHost", .product(name: "Yams", package: "Yams")]),
        // The agent runs inside every instance: no Foundation (small, fast to
        // start), the Swift runtime linked statically, and always optimised so
        // that its measurements do not depend on the build configuration.
        .target(name: "CAgentInit"),
        .target(name: "CAgentShim"),
        .target(name: "LabAgentCore", dependencies: ["LabWire", "CAgentShim"], swiftSettings: [.unsafeFlags(["-O"])]),
        .executableTarget(
            name: "isolab-agent",
            dependencies: ["LabAgentCore", "LabWire", "CAgentInit"],
            swiftSettings: [.unsafeFlags(["-O"])],
            linkerSettings: [.unsafeFlags(["-static-executable"])]
        ),

        // Images.
        .systemLibrary(name: "CZlib", pkgConfig: "zlib", providers: [.apt(["zlib1g-dev"])]),
        // libarchive's C API (tar, gzip, zstd for OCI layers), dlopened on
        // first use like libvirt: headers from libarchive-dev, the library
        // loaded only by the commands that read an archive.
        .target(name: "CLibarchive", linkerSettings: [.linkedLibrary("dl")]),
        .target(name: "LabImage", dependencies: ["LabModel", "LabCore", "LabWire", "CZlib", "CLibarchive"]),
        // The repository: pull and push over the OCI distribution API.
        // OpenSSL's libcrypto hashes the blobs as they arrive (1.7 GB/s with
        // SHA-NI here, against 0.3 GB/s for LabWire's portable SHA-256).
        .systemLibrary(name: "CLibcrypto", pkgConfig: "libcrypto", providers: [.apt(["libssl-dev"])]),
        .target(
            name: "LabRegistry",
            dependencies: [
                "LabModel", "LabCore", "LabImage", "CLibcrypto",
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
            ]
        ),

        // Backends: containers and VMs.
        .systemLibrary(name: "CLibcap", pkgConfig: "libcap", providers: [.apt(["libcap-dev"])]),
        .systemLibrary(name: "CLibseccomp", pkgConfig: "libseccomp", providers: [.apt(["libseccomp-dev"])]),
        .target(name: "CLabSpawn", dependencies: ["CLabShared"]),
        .target(name: "LabContainer", dependencies: ["LabModel", "LabCore", "LabWire", "CLabHost", "CLabSpawn", "CLibcap", "CLibseccomp"]),
        // libvirt's C API, dlopened on first use (see its header for why): the
        // headers come from libvirt-dev, the library is loaded at run time.
        .target(name: "CLibvirt", linkerSettings: [.linkedLibrary("dl")]),
        .target(
            name: "LabVirt",
            dependencies: ["LabModel", "LabCore", "LabImage", "LabWire", "CLibvirt", "CLabHost", .product(name: "Logging", package: "swift-log")]
        ),
        .target(
            name: "LabDoctor",
            dependencies: ["LabModel", "LabCore", "LabContainer", "LabVirt", .product(name: "Logging", package: "swift-log")]
        ),

        // Running scenarios, and reporting them.
        .target(
            name: "LabRunner",
            dependencies: [
                "LabModel", "LabStats", "LabAnalysis", "LabCore", "LabWire", "LabImage", "LabContainer", "LabVirt", "LabDoctor",
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        .target(name: "LabReport", dependencies: ["LabModel", "LabStats", "LabAnalysis", .product(name: "CSV", package: "CSV.swift")]),
        // Synthetic results for the analysis's and the reports' tests.
        .target(name: "LabTestSupport", dependencies: ["LabAnalysis", "LabModel"], path: "Tests/LabTestSupport"),

        // The command line.
        .target(
            name: "LabCommands",
            dependencies: [
                "LabModel", "LabCore", "LabDoctor", "LabImage", "LabContainer", "LabVirt", "LabWire", "LabRunner", "LabReport", "LabAnalysis",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        .executableTarget(name: "isolab", dependencies: ["LabCommands"]),
        // `isolab image pull|push`: the same command line with the registry
        // client linked in, exec'd by isolab for those two commands, so that
        // SwiftNIO's size costs no other command its start.
        .executableTarget(name: "isolab-registry", dependencies: ["LabCommands", "LabCore", "LabImage", "LabModel", "LabRegistry"]),

        // Benchmarks: whole-process comparisons (isolab-bench), and the real
        // code paths on package-benchmark (swift package benchmark).
        .executableTarget(
            name: "isolab-bench",
            dependencies: [
                "LabModel", "LabCore", "LabWire", "LabRunner", "LabStats", "LabImage", "LabContainer", "LabVirt", "LabDoctor",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            path: "Benchmarks/WholeProcess/isolab-bench"
        ),
        .executableTarget(
            name: "RunnerBenchmarks",
            dependencies: ["LabModel", "LabRunner", "LabStats", "LabReport", .product(name: "Benchmark", package: "benchmark")],
            path: "Benchmarks/RunnerBenchmarks",
            plugins: [.plugin(name: "BenchmarkPlugin", package: "benchmark")]
        ),
        .executableTarget(
            name: "ImageBenchmarks",
            dependencies: ["LabModel", "LabCore", "LabImage", .product(name: "Benchmark", package: "benchmark")],
            path: "Benchmarks/ImageBenchmarks",
            plugins: [.plugin(name: "BenchmarkPlugin", package: "benchmark")]
        ),
        .executableTarget(
            name: "ContainerBenchmarks",
            dependencies: ["LabModel", "LabCore", "LabImage", "LabContainer", "LabRunner", .product(name: "Benchmark", package: "benchmark")],
            path: "Benchmarks/ContainerBenchmarks",
            plugins: [.plugin(name: "BenchmarkPlugin", package: "benchmark")]
        ),

        // Tests: one target per library; suites that need root, libvirt or a
        // real cgroup hierarchy are in IntegrationTests and say so in their names.
        .testTarget(name: "LabModelTests", dependencies: ["LabModel"]),
        .testTarget(name: "LabStatsTests", dependencies: ["LabStats", "LabModel"]),
        .testTarget(name: "LabCoreTests", dependencies: ["LabCore", "LabModel", "CLabHost"]),
        .testTarget(name: "LabAgentCoreTests", dependencies: ["LabAgentCore", "LabWire"]),
        .testTarget(name: "LabImageTests", dependencies: ["LabImage", "LabCore", "LabModel"]),
        .testTarget(name: "LabRegistryTests", dependencies: ["LabRegistry", "LabModel", .product(name: "NIOCore", package: "swift-nio")]),
        .testTarget(name: "LabContainerTests", dependencies: ["LabContainer", "LabCore", "LabModel"]),
        .testTarget(name: "LabVirtTests", dependencies: ["LabVirt", "LabCore", "LabModel"], exclude: ["Golden"]),
        .testTarget(name: "LabDoctorTests", dependencies: ["LabDoctor", "LabCore", "LabModel", "LabContainer", "LabVirt"]),
        .testTarget(name: "LabRunnerTests", dependencies: ["LabRunner", "LabAnalysis", "LabModel", "LabCore", "LabWire", "LabContainer"], exclude: ["Golden"]),
        // Renders a committed results.json from a graph with no backend in it:
        // the proof that reports need neither libvirt nor libcap.
        .testTarget(
            name: "LabReportTests",
            dependencies: ["LabReport", "LabModel", "LabStats", "LabAnalysis", "LabTestSupport", .product(name: "CSV", package: "CSV.swift")],
            exclude: ["Fixtures"]
        ),
        .testTarget(name: "LabCommandsTests", dependencies: ["LabCommands", "LabModel", .product(name: "ArgumentParser", package: "swift-argument-parser")]),
        .testTarget(name: "LabAnalysisTests", dependencies: ["LabAnalysis", "LabModel", "LabStats", "LabTestSupport"]),
        .testTarget(
            name: "IntegrationTests",
            dependencies: [
                "LabAnalysis", "LabModel", "LabCore", "LabDoctor", "LabContainer", "LabVirt", "LabImage", "LabWire", "LabRunner", "LabReport", "LabStats",
                .product(name: "CSV", package: "CSV.swift"),
            ]
        ),
    ],
    swiftLanguageModes: [.v6]
)
