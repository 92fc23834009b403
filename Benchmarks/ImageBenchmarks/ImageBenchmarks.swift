import Benchmark
import Foundation
import LabCore
import LabImage
import LabModel

/// Images: the cpio writer on an image-sized archive, the built-in image
/// built cold into an empty store and again from the cache, and an OCI
/// image with one 100 MiB layer imported cold (blobs checked and stored, the
/// DiffID computed, the layer unpacked) and again (already stored).
let benchmarks: @Sendable () -> Void = {
    Benchmark.defaultConfiguration = .init(
        metrics: [.wallClock, .cpuTotal, .mallocCountTotal, .peakMemoryResident],
        maxDuration: .seconds(5), maxIterations: 200,
        thresholds: [.wallClock: .relaxed])

    // 400 small files and one of 10 MiB: about the built-in image's shape.
    Benchmark("cpio writer, 400 files + 10 MiB") { benchmark in
        let small = [UInt8](repeating: 0x61, count: 3000)
        let large = [UInt8](repeating: 0x62, count: 10 << 20)
        for _ in benchmark.scaledIterations {
            var writer = CpioWriter()
            try writer.appendDirectory("bin")
            for index in 0..<400 { try writer.appendFile("bin/f\(index)", contents: small) }
            try writer.appendFile("sbin/isolab-agent", mode: 0o755, contents: large)
            writer.finish()
            blackHole(writer.bytes.count)
        }
    }

    Benchmark("built-in image, cold build into an empty store", configuration: .init(maxIterations: 30)) { benchmark in
        let agent = try ImageBuilder.defaultAgentPath()
        for _ in benchmark.scaledIterations {
            let home = NSTemporaryDirectory() + "isolab-bench-image-\(getpid())"
            try? FileSystem.removeTree(home)
            let builder = ImageBuilder(store: ImageStore(paths: LabPaths(stateDirectory: home)), agentPath: agent)
            benchmark.startMeasurement()
            blackHole(try builder.build(.builtinBusybox).cached)
            benchmark.stopMeasurement()
            try? FileSystem.removeTree(home)
        }
    }

    Benchmark("OCI import, one 100 MiB layer (50 MiB gzip), cold", configuration: .init(maxIterations: 20)) { benchmark in
        let layout = try OCIBenchLayout.make()
        for _ in benchmark.scaledIterations {
            let home = NSTemporaryDirectory() + "isolab-bench-oci-\(getpid())"
            try? FileSystem.removeTree(home)
            let importer = OCIImporter(images: ImageStore(paths: LabPaths(stateDirectory: home)))
            benchmark.startMeasurement()
            blackHole(try importer.importImage(layout + ":big", name: "big").alreadyStored)
            benchmark.stopMeasurement()
            try? FileSystem.removeTree(home)
        }
    }

    Benchmark("OCI import, the same image again (already stored)") { benchmark in
        let layout = try OCIBenchLayout.make()
        let home = NSTemporaryDirectory() + "isolab-bench-oci-cached-\(getpid())"
        defer { try? FileSystem.removeTree(home) }
        let importer = OCIImporter(images: ImageStore(paths: LabPaths(stateDirectory: home)))
        _ = try importer.importImage(layout + ":big", name: "big")
        benchmark.startMeasurement()
        for _ in benchmark.scaledIterations {
            blackHole(try importer.importImage(layout + ":big", name: "big").alreadyStored)
        }
    }

    Benchmark("built-in image, cached rebuild (inputs unchanged)") { benchmark in
        let home = NSTemporaryDirectory() + "isolab-bench-image-cached-\(getpid())"
        defer { try? FileSystem.removeTree(home) }
        let builder = ImageBuilder(store: ImageStore(paths: LabPaths(stateDirectory: home)), agentPath: try ImageBuilder.defaultAgentPath())
        _ = try builder.build(.builtinBusybox)
        benchmark.startMeasurement()
        for _ in benchmark.scaledIterations {
            blackHole(try builder.build(.builtinBusybox).cached)
        }
    }
}

/// A layout with one image of one layer: a 100 MiB file (half random, half
/// zeros, so gzip -1 halves it), made once per process with tar and gzip
/// (the setup is not measured).
enum OCIBenchLayout {
    static func make() throws -> String {
        let root = NSTemporaryDirectory() + "isolab-bench-layout-\(getpid())"
        if FileSystem.exists(root + "/index.json") { return root }
        try FileSystem.createDirectory(root + "/tree", mode: 0o755, parents: 0o755)
        try FileSystem.createDirectory(root + "/blobs/sha256", mode: 0o755, parents: 0o755)
        var random = SystemRandomNumberGenerator()
        var bytes = [UInt8](repeating: 0, count: 100 << 20)
        for i in 0..<(50 << 20) / 8 { withUnsafeBytes(of: random.next() as UInt64) { for j in 0..<8 { bytes[i * 8 + j] = $0[j] } } }
        try FileSystem.writeAtomically(root + "/tree/big", bytes: bytes)
        let tar = root + "/layer.tar"
        guard try HostCommand.run("/bin/tar", ["-C", root + "/tree", "-cf", tar, "big"], timeout: 120).status == 0,
              try HostCommand.run("/bin/gzip", ["-1", "-n", "-k", "-f", tar], timeout: 120).status == 0 else {
            throw LabError(.failed, "tar or gzip failed making the benchmark's layer")
        }
        func put(_ bytes: [UInt8]) throws -> (String, Int) {
            let digest = OCI.Digest(of: bytes)
            try FileSystem.writeAtomically(root + "/blobs/sha256/" + digest.hex, bytes: bytes)
            return (digest.description, bytes.count)
        }
        let diffID = OCI.Digest(of: try FileSystem.readBytes(tar)).description
        let (layer, layerSize) = try put(try FileSystem.readBytes(tar + ".gz"))
        let (config, configSize) = try put(Array(#"{"architecture":"\#(OCI.Platform.host.architecture)","os":"linux","rootfs":{"type":"layers","diff_ids":["\#(diffID)"]}}"#.utf8))
        let manifest = #"{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"\#(config)","size":\#(configSize)},"layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar+gzip","digest":"\#(layer)","size":\#(layerSize)}]}"#
        let (manifestDigest, manifestSize) = try put(Array(manifest.utf8))
        try FileSystem.writeAtomically(root + "/index.json", text: #"{"schemaVersion":2,"manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"\#(manifestDigest)","size":\#(manifestSize),"annotations":{"org.opencontainers.image.ref.name":"big"}}]}"#)
        try FileSystem.writeAtomically(root + "/oci-layout", text: #"{"imageLayoutVersion":"1.0.0"}"#)
        return root
    }
}
