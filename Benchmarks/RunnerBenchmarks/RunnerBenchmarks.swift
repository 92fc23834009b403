import Benchmark
import Foundation
import LabModel
import LabReport
import LabRunner
import LabStats

/// The runner's own work, measured through its real code: one trial through
/// `Runner.runTrial` and `InstanceRun` against a backend that does nothing
/// (so only the lab's bookkeeping is timed), the statistics of a run, and
/// rendering its reports.
let benchmarks: @Sendable () -> Void = {
    Benchmark.defaultConfiguration = .init(
        metrics: [.wallClock, .cpuTotal, .mallocCountTotal, .peakMemoryResident],
        maxDuration: .seconds(3), maxIterations: 2000,
        thresholds: [.wallClock: .relaxed, .mallocCountTotal: .default])

    Benchmark("runTrial with a stub backend (one trial's bookkeeping)") { benchmark async in
        let runner = Runner(scenario: Fixture.scenario, file: "bench.yaml", text: "", options: .init())
        let planned = Runner.PlannedTrial(index: 0, round: 0, backend: .container, warmup: false)
        for _ in benchmark.scaledIterations {
            blackHole(await runner.runTrial(planned, backend: StubBackend()))
        }
    }

    Benchmark("summary and bootstrap intervals of a 36-trial run") { benchmark in
        for _ in benchmark.scaledIterations {
            blackHole(RunResults.summarize(Fixture.results.trials, backends: Fixture.results.backends))
        }
    }

    Benchmark("render report.html, both CSVs and the text summary") { benchmark in
        for _ in benchmark.scaledIterations {
            blackHole(HTMLReport.render(Fixture.results))
            blackHole(try? CSVReport.samples(Fixture.results))
            blackHole(try? CSVReport.summary(Fixture.results))
            blackHole(TextReport.render(Fixture.results))
        }
    }
}

enum Fixture {
    /// The committed results the report tests render.
    static let results: RunResults = {
        let path = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("Tests/LabReportTests/Fixtures/results.json").path
        return try! RunResults.load(file: path)
    }()

    static let scenario = try! Scenario.parse("name: bench\nbackends: [container]\nworkloads: [{name: noop}]\n", file: "bench.yaml")
}

/// A backend whose instance has already written the agent's lines and ended:
/// what remains is the lab's own work.
struct StubBackend: Backend {
    let kind = BackendKind.container

    func start(_ request: InstanceRequest) async throws -> any Instance {
        var fds: [Int32] = [-1, -1]
        _ = pipe(&fds)
        let text = """
            ISOLAB READY version=1 uptime_ns=1 monotonic_ns=1 pid=1 role=container hostname=x kernel=k
            ISOLAB DONE exit=0 max_rss_kb=6000

            """
        _ = text.utf8CString.withUnsafeBufferPointer { write(fds[1], $0.baseAddress, $0.count - 1) }
        close(fds[1])
        return StubInstance(outputFD: fds[0])
    }
}

final class StubInstance: Instance, @unchecked Sendable {
    let id = "stub"
    let kind = BackendKind.container
    let outputFD: Int32?
    let accelerator: Accelerator? = nil
    private let lock = NSLock()
    private var _timeline = Timeline()
    var timeline: Timeline { lock.withLock { _timeline } }

    init(outputFD: Int32) {
        self.outputFD = outputFD
        var clock = timespec()
        clock_gettime(CLOCK_MONOTONIC, &clock)
        _timeline.mark("spawn_start", at: UInt64(clock.tv_sec) * 1_000_000_000 + UInt64(clock.tv_nsec))
    }

    func mark(_ phase: String, at ns: UInt64) { lock.withLock { _timeline.mark(phase, at: ns) } }
    func hostProcesses() -> [pid_t] { [] }
    func waitForExit(until deadline: UInt64) async -> InstanceExit? { .exited(0) }
    func kill() async {}
    func finalFigures() -> BackendFigures { BackendFigures() }
    func diskPaths() -> (image: [String], instance: [String]) { ([], []) }
    func teardown() async throws {
        if let outputFD { close(outputFD) }
    }
}
