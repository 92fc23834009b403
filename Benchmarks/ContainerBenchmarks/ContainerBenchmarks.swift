import Benchmark
import Foundation
import LabContainer
import LabCore
import LabImage
import LabModel
import LabRunner

/// The lab's container through the lab's one instance path: call to READY
/// and teardown of `isolab-agent run noop` with every namespace and a memory
/// limit. Needs root (namespaces, cgroups); skipped otherwise.
let benchmarks: @Sendable () -> Void = {
    Benchmark.defaultConfiguration = .init(
        metrics: [.wallClock, .cpuTotal, .mallocCountTotal, .peakMemoryResident],
        maxDuration: .seconds(5), maxIterations: 200,
        skip: geteuid() != 0,
        thresholds: [.wallClock: .relaxed])

    Benchmark("container start to teardown, agent noop (InstanceRun)") { benchmark async throws in
        let image = try ImageBuilder(store: ImageStore(paths: .fromEnvironment()), agentPath: try ImageBuilder.defaultAgentPath())
            .build(.builtinBusybox).record
        let backend = ContainerBackend(rootfs: image.rootfs, limits: CgroupLimits(memoryBytes: 256 << 20), layout: try .detectHost(),
                                       capabilities: try Capabilities.set(adding: [], dropping: []).mask)
        benchmark.startMeasurement()
        for _ in benchmark.scaledIterations {
            blackHole(try await InstanceRun.run(backend, InstanceRequest(.agent(["noop"]), timeout: 30)).exit)
        }
    }
}
