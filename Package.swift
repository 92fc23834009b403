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
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
    ],
    targets: [
        .executableTarget(
            name: "isolab",
            dependencies: ["LabCommands"]
        ),
        .target(
            name: "LabCommands",
            dependencies: [
                "LabCore", "LabDoctor",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        .target(name: "LabCore", dependencies: ["CLabShim"]),
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
        .target(name: "LabContainer", dependencies: ["LabCore", "CLabShim", "CLibcap"]),
        .target(name: "LabImage", dependencies: ["LabCore"]),
        .target(
            name: "LabVirt",
            dependencies: [
                "LabCore", "LabImage", "CLibvirt", "CLabShim",
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
        .testTarget(name: "LabCoreTests", dependencies: ["LabCore"]),
        .testTarget(name: "LabContainerTests", dependencies: ["LabContainer", "LabCore"]),
        .testTarget(name: "LabImageTests", dependencies: ["LabImage", "LabCore"]),
        .testTarget(name: "LabDoctorTests", dependencies: ["LabDoctor", "LabCore", "LabContainer", "LabVirt"]),
        .testTarget(name: "IntegrationTests", dependencies: ["LabCore", "LabDoctor", "LabContainer", "LabVirt", "LabImage"]),
    ],
    swiftLanguageModes: [.v6]
)
