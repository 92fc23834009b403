import Benchmark
import Foundation
import LabCore
import LabImage
import LabModel

/// Images: the cpio writer on an image-sized archive, and the built-in image
/// built cold into an empty store and again from the cache.
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
