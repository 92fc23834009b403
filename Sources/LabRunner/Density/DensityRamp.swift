import Foundation
import LabCore
import LabModel

/// Many instances of one image at once (docs/density.md): instances are
/// started one after another and kept running idle, each inside the one
/// instance path of the one before it (`InstanceRun.run`'s `during`), so
/// that every one is torn down by the path that started it, in reverse
/// order, on an error, at the end, or on Ctrl-C. At each N of the ramp the
/// running instances are measured; the ramp stops at the first of the
/// scenario's N, its time budget, the memory floor, or a failed start.
public enum DensityRamp {
    public struct Context: Sendable {
        public var backend: any Backend
        public var settings: DensitySettings
        /// Seconds the agent's `idle` asks for: longer than the ramp can take.
        public var holdSeconds: Double
        public var tbCacheMiB: Int?
        public var progress: @Sendable (String) -> Void

        public init(backend: any Backend, settings: DensitySettings, tbCacheMiB: Int?, progress: @escaping @Sendable (String) -> Void) {
            self.backend = backend
            self.settings = settings
            self.holdSeconds = settings.budgetSeconds + 900
            self.tbCacheMiB = tbCacheMiB
            self.progress = progress
        }
    }

    final class Collector: @unchecked Sendable {
        let lock = NSLock()
        var latencies: [DensityRun.StartLatency] = []
        var steps: [DensityRun.Step] = []
        var stopped: String?
        var ksm: DensityRun.KSM?

        func add(_ latency: DensityRun.StartLatency) { lock.withLock { latencies.append(latency) } }
        func add(_ step: DensityRun.Step) { lock.withLock { steps.append(step) } }
        func stop(_ reason: String) { lock.withLock { if stopped == nil { stopped = reason } } }
    }

    public static func run(_ context: Context) async -> DensityRun {
        let collector = Collector()
        let memTotal = Double(MemInfo.value("MemTotal", in: FileSystem.readTextIfPresent("/proc/meminfo") ?? "") ?? 0) / 1024
        let (baseline, baselineSettled) = settledMemAvailable()
        let deadline = MonotonicClock.now() + UInt64(context.settings.budgetSeconds * 1e9)
        do {
            try await hold(level: 1, running: [], context: context, baseline: baseline, memTotal: memTotal, deadline: deadline, collector: collector)
        } catch {
            collector.stop(CleanupRegistry.shared.interrupted != nil ? "interrupted" : "a start failed: \(error)")
        }
        let interrupted = CleanupRegistry.shared.interrupted != nil
        return collector.lock.withLock {
            var run = DensityRun(backend: context.backend.kind, startLatencies: collector.latencies, steps: collector.steps,
                                 stoppedBecause: collector.stopped ?? "ended", complete: !interrupted, ksm: collector.ksm,
                                 tbCacheMiB: context.backend.kind.isVM ? context.tbCacheMiB : nil, memTotalMiB: memTotal, baselineSettled: baselineSettled)
            run.maxInstances = context.settings.maxInstances
            return run
        }
    }

    static func heldRequest(_ context: Context) -> InstanceRequest {
        var request = InstanceRequest(.agent(["idle", "--idle.seconds", String(Int(context.holdSeconds))]), timeout: context.holdSeconds + 60)
        // Sampling smaps of every held instance 20 times a second would load what is measured.
        request.sampleMemory = false
        return request
    }

    /// Starts instance `level`, waits for its READY, measures at the ramp's
    /// counts, and starts the next inside its run.
    static func hold(level: Int, running: [any Instance], context: Context, baseline: Double, memTotal: Double, deadline: UInt64,
                     collector: Collector) async throws {
        let settings = context.settings
        _ = try await InstanceRun.run(context.backend, heldRequest(context)) { instance in
            let readyAt = try await waitForReady(instance, until: MonotonicClock.now() + UInt64((context.settings.budgetSeconds + 300) * 1e9))
            let launched = instance.timeline.phases.first?.ns ?? readyAt
            collector.add(DensityRun.StartLatency(running: level - 1, ms: Double(readyAt - launched) / 1e6))
            let all = running + [instance]
            let floor = memTotal * settings.memoryFloor
            var last = level >= settings.maxInstances
            if settings.counts.contains(level) || last {
                let step = await measure(all, context: context, baseline: baseline)
                collector.add(step)
                context.progress("\(context.backend.kind.rawValue): \(level) running, \(String(format: "%.1f", step.pssPerInstanceMiB)) MiB PSS each")
                if step.memAvailableMiB < floor { collector.stop("MemAvailable \(Int(step.memAvailableMiB)) MiB fell below the floor (\(Int(floor)) MiB)"); last = true }
            }
            if CleanupRegistry.shared.interrupted != nil { return }
            if level >= settings.maxInstances { collector.stop("reached max_instances (\(settings.maxInstances))") }
            if MonotonicClock.now() >= deadline { collector.stop("the time budget (\(Int(settings.budgetSeconds)) s) ran out"); last = true }
            if let available = MemAvailable.read(), Double(available) / 1024 < floor {
                collector.stop("MemAvailable fell below the floor (\(Int(floor)) MiB)")
                last = true
            }
            if last {
                // The largest N of the ramp: KSM off and on, for guests (QEMU marks their RAM mergeable).
                if settings.ksm && context.backend.kind.isVM {
                    let pss = pssPerInstance(all)
                    let merged = try? await KSM.measure(n: all.count, pssOff: pss) { pssPerInstance(all) }
                    collector.lock.withLock { collector.ksm = merged }
                }
                return
            }
            try await hold(level: level + 1, running: all, context: context, baseline: baseline, memTotal: memTotal, deadline: deadline, collector: collector)
        }
    }

    /// The instant the reader saw READY; an error if the instance ended or the deadline came first.
    static func waitForReady(_ instance: any Instance, until deadline: UInt64) async throws -> UInt64 {
        while true {
            if let ready = instance.timeline["ready"] { return ready }
            if instance.timeline["exited"] != nil { throw LabError(.failed, "\(instance.kind.rawValue) \(instance.id) ended before READY") }
            if MonotonicClock.now() >= deadline { throw LabError(.timeout, "\(instance.kind.rawValue) \(instance.id) was not READY in time") }
            try await Task.sleep(nanoseconds: instance.kind.isVM ? 20_000_000 : 1_000_000)
        }
    }

    /// Each instance's `Pss_Anon` + `Pss_Shmem` over its host processes
    /// (MiB), one value per instance whose processes could be read.
    static func anonymousPSS(eachOf instances: [any Instance]) -> [Double] {
        instances.compactMap { instance in
            var total = 0, read = 0
            for pid in instance.hostProcesses() {
                guard let rollup = FileSystem.readTextIfPresent("/proc/\(pid)/smaps_rollup"), let anon = MemInfo.value("Pss_Anon", in: rollup) else { continue }
                total += anon + (MemInfo.value("Pss_Shmem", in: rollup) ?? 0)
                read += 1
            }
            return read == 0 ? nil : Double(total) / 1024
        }
    }

    /// MemAvailable (MiB) once it has stopped moving: within 3 MiB over three
    /// seconds (readings 250 ms apart), for at most `limit` seconds. Memory
    /// an instance has just returned (the previous trial's VM, a
    /// creation-rate one, an earlier test's browser) need not be back in
    /// MemFree at once: on a host with free page reporting (a Firecracker
    /// guest) memory freed by one process comes back in steps, seconds after
    /// its exit. A reading taken during that drift makes the next instances'
    /// drop look smaller than their memory, by as much as came back
    /// meanwhile (docs/density.md has what was seen). `settled` is false when the wait ran out first:
    /// the step's record says so, and no extrapolation is made from it.
    static func settledMemAvailable(limit: Double = 90) -> (mib: Double, settled: Bool) {
        let deadline = MonotonicClock.now() + UInt64(limit * 1e9)
        var readings = [Double(MemAvailable.read() ?? 0) / 1024]
        while MonotonicClock.now() < deadline {
            usleep(250_000)
            readings.append(Double(MemAvailable.read() ?? 0) / 1024)
            if isCalm(readings) { return (readings[readings.count - 1], true) }
        }
        return (readings[readings.count - 1], false)
    }

    /// The last 13 readings (three seconds at 250 ms) within 3 MiB of each other.
    static func isCalm(_ readings: [Double]) -> Bool {
        let window = readings.suffix(13)
        guard window.count == 13, let high = window.max(), let low = window.min() else { return false }
        return high - low < 3
    }

    static func pssPerInstance(_ instances: [any Instance]) -> Double {
        let total = instances.reduce(0) { $0 + (MemorySampler.snapshot($1.hostProcesses()).pss ?? 0) }
        return Double(total) / 1024 / Double(max(instances.count, 1))
    }

    /// MemAvailable, PSS and idle CPU of what runs, then the creation rate of `concurrency` more.
    static func measure(_ instances: [any Instance], context: Context, baseline: Double) async -> DensityRun.Step {
        try? await Task.sleep(nanoseconds: 300_000_000)
        let (available, settled) = settledMemAvailable()
        let pss = pssPerInstance(instances)
        let each = anonymousPSS(eachOf: instances)
        let anonymous = each.isEmpty ? nil : each.reduce(0, +) / Double(instances.count)
        let pids = { instances.flatMap { $0.hostProcesses() } }
        let cpu0 = ProcessState.cpuNs(of: pids())
        let t0 = MonotonicClock.now()
        try? await Task.sleep(nanoseconds: UInt64(context.settings.idleWindow * 1e9))
        let cpu1 = ProcessState.cpuNs(of: pids())
        let window = Double(MonotonicClock.now() - t0) / 1e9
        let idle = Double(cpu1 >= cpu0 ? cpu1 - cpu0 : 0) / 1e6 / window / Double(instances.count)
        let rate = await creationRate(context)
        return DensityRun.Step(n: instances.count, memAvailableDropPerInstanceMiB: (baseline - available) / Double(instances.count),
                               pssPerInstanceMiB: pss, idleCPUPerInstanceMsPerS: idle, creationRatePerS: rate, memAvailableMiB: available,
                               pssAnonPerInstanceMiB: anonymous, memAvailableSettled: settled, instanceAnonMiB: each.isEmpty ? nil : each)
    }

    /// `concurrency` instances (the agent's noop) started at once: how many
    /// per second, from the first launch to the last READY.
    static func creationRate(_ context: Context) async -> Double? {
        let count = context.settings.concurrency
        let start = MonotonicClock.now()
        let readies: [UInt64?] = await withTaskGroup(of: UInt64?.self) { group in
            for _ in 0..<count {
                group.addTask {
                    var request = InstanceRequest(.agent(["noop"]), timeout: context.backend.kind.isVM ? 600 : 60)
                    request.sampleMemory = false
                    return (try? await InstanceRun.run(context.backend, request))?.timeline["ready"]
                }
            }
            var all: [UInt64?] = []
            for await ready in group { all.append(ready) }
            return all
        }
        let done = readies.compactMap { $0 }
        guard done.count == count, let last = done.max(), last > start else { return nil }
        return Double(count) / (Double(last - start) / 1e9)
    }
}
