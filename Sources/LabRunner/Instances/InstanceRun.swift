import Foundation
import LabWire
import LabCore
import LabModel

/// The one way the lab runs an instance, whatever its kind and whoever asks
/// (trials, checks, demos, the commands, the benchmarks): start it, read its
/// output until it ends or the deadline, wait for it, take its figures, and
/// tear it down, always, on an error or a signal too. The deadline ends the
/// instance; nothing waits forever.
public enum InstanceRun {
    public static let outputLimit = 1 << 20

    /// Runs `request` on `backend` to the end. `during` runs beside the
    /// reading once the instance has started (to freeze it, sample it, ...);
    /// when it returns, the instance is ended, unless `endAfterDuring` is
    /// false (then it runs on to its own end). A deadline that passes ends
    /// the instance and throws `LabError(.timeout)` after the teardown.
    public static func run(
        _ backend: any Backend, _ request: InstanceRequest, endAfterDuring: Bool = true,
        during: (@Sendable (any Instance) async throws -> Void)? = nil
    ) async throws -> InstanceOutcome {
        let memoryBefore = request.sampleMemory ? MemAvailable.read() : nil
        let instance = try await backend.start(request)
        let deadline = request.timeout.map { MonotonicClock.now() + UInt64(min($0, 1e6) * 1e9) } ?? .max
        // Interrupted (SIGINT, SIGTERM): the same teardown, from the signal's thread.
        let token = CleanupRegistry.shared.register {
            let done = DispatchSemaphore(value: 0)
            Task.detached {
                try? await instance.teardown()
                done.signal()
            }
            _ = done.wait(timeout: .now() + 10)
        }
        defer { CleanupRegistry.shared.unregister(token) }

        let sampler = MemorySampler(instance: instance, memAvailableBefore: memoryBefore)
        if request.sampleMemory { sampler.start() }
        var collector = OutputCollector(limit: outputLimit)
        var duringError: (any Error)?
        if let fd = instance.outputFD {
            let reader = OutputReader(fd: fd, limit: outputLimit)
            async let reading: OutputCollector = reader.read(
                deadline: deadline, onBytes: request.onBytes, onFirstByte: { instance.mark("first_byte", at: $0) },
                onDone: { instance.mark("done", at: $0) }
            ) { readyAt in
                instance.mark("ready", at: readyAt)
                // On a thread of its own: the reader must go straight back to
                // the pipe, or the end of the output (and so `exited`) is seen
                // late by as long as the sample takes (the hyperfine
                // cross-check found it; docs/peers.md has the figures).
                if request.sampleMemory { sampler.sampleAtReadyInBackground() }
            }
            if let during {
                do { try await during(instance) } catch { duringError = error }
                if endAfterDuring || duringError != nil { await instance.kill() }
            }
            collector = await reading
        } else if let during {
            do { try await during(instance) } catch { duringError = error }
            if endAfterDuring || duringError != nil { await instance.kill() }
        }

        var exit = await instance.waitForExit(until: deadline)
        let timedOut = exit == nil
        if timedOut {
            await instance.kill()
            exit = await instance.waitForExit(until: MonotonicClock.now() + 10_000_000_000)
        }
        let memory = sampler.stop()
        var figures = instance.finalFigures()
        if figures.cpuNs == nil { figures.cpuNs = memory.lastCPUNs }
        let disk = request.measureDisk ? instance.diskPaths() : (image: [], instance: [])
        let diskImage = disk.image.reduce(0) { $0 + FileSystem.allocatedBytes($1) }
        let diskInstance = disk.instance.reduce(0) { $0 + FileSystem.allocatedBytes($1) }
        do {
            try await instance.teardown()
        } catch {
            // The instance ended; what it left is gc's to remove, and the error says so.
            throw LabError(.failed, "\(instance.kind.rawValue) \(instance.id): teardown failed (isolab gc removes what is left): \(error)")
        }
        if let duringError { throw duringError }
        let text = collector.text
        if timedOut {
            let what = instance.kind == .vm ? "guest isolab-\(instance.id)" : "\(instance.kind.rawValue) \(instance.id)"
            throw LabError(.timeout, "\(what) did not finish within \(NumberText.short(request.timeout ?? 0)) s and was ended; last output: \(tailOf(text))")
        }
        let lines = AgentLine.parseAll(text)
        let outcome = InstanceOutcome(
            id: instance.id, kind: instance.kind, accelerator: instance.accelerator, timeline: instance.timeline, output: text,
            lines: lines, exit: exit ?? .signaled(SIGKILL, reason: "killed"), memory: memory, figures: figures,
            diskImageBytes: diskImage, diskInstanceBytes: diskInstance)
        if case .agent = request.program, let version = outcome.ready?["version"], version != String(AgentProtocol.version) {
            throw LabError(.failed, "the \(instance.kind.rawValue)'s agent speaks protocol \(version), this lab \(AgentProtocol.version); rebuild the image")
        }
        return outcome
    }

    static func tailOf(_ text: String) -> String {
        let lines = text.split(whereSeparator: \.isNewline).suffix(5).joined(separator: " | ")
        return lines.isEmpty ? "(none)" : lines
    }
}

/// Reads an instance's output on a thread of its own (blocking poll and
/// read), so that no thread of Swift's cooperative pool waits on a pipe.
final class OutputReader: @unchecked Sendable {
    let fd: Int32
    let limit: Int

    init(fd: Int32, limit: Int) {
        self.fd = fd
        self.limit = limit
    }

    func read(
        deadline: UInt64, onBytes: (@Sendable ([UInt8]) -> Void)?, onFirstByte: @escaping @Sendable (UInt64) -> Void,
        onDone: @escaping @Sendable (UInt64) -> Void = { _ in }, onReady: @escaping @Sendable (UInt64) -> Void
    ) async -> OutputCollector {
        let (fd, limit) = (self.fd, self.limit)
        return await withCheckedContinuation { continuation in
            Thread.detachNewThread {
                var collector = OutputCollector(limit: limit)
                collector.drain(fd, deadline: deadline, onFirstByte: onFirstByte, onMarker: onReady, onDone: onDone, onBytes: { onBytes?($0) })
                continuation.resume(returning: collector)
            }
        }
    }
}

/// The host's `MemAvailable` (/proc/meminfo), KiB.
public enum MemAvailable {
    public static func read() -> Int? {
        MemInfo.value("MemAvailable", in: FileSystem.readTextIfPresent("/proc/meminfo") ?? "")
    }
}

/// Samples an instance's host processes every 50 ms, and at READY on the
/// reader's thread (a short-lived instance may be gone before the first
/// tick): PSS and VmHWM summed over the processes, and their CPU time.
final class MemorySampler: @unchecked Sendable {
    private let lock = NSLock()
    private var figures = MemoryFigures()
    private var running = true
    private let instance: any Instance
    private let memAvailableBefore: Int?

    init(instance: any Instance, memAvailableBefore: Int?) {
        self.instance = instance
        self.memAvailableBefore = memAvailableBefore
    }

    func start() {
        Thread.detachNewThread {
            // First after one period: a sample reads every process's smaps
            // (taking its mmap lock) and would slow the very start it measures;
            // READY takes its own sample.
            while self.lock.withLock({ self.running }) {
                usleep(50_000)
                if self.lock.withLock({ self.running }) { self.sample() }
            }
        }
    }

    private let pendingReadySample = DispatchGroup()

    /// `sampleAtReady` on a thread of its own; `stop` waits for it.
    func sampleAtReadyInBackground() {
        pendingReadySample.enter()
        Thread.detachNewThread {
            self.sampleAtReady()
            self.pendingReadySample.leave()
        }
    }

    func sampleAtReady() {
        let available = MemAvailable.read()
        let snapshot = Self.snapshot(instance.hostProcesses())
        lock.withLock {
            guard figures.pssAtReadyKiB == nil else { return }
            figures.pssAtReadyKiB = snapshot.pss
            figures.processesAtReady = snapshot.count
            if let before = memAvailableBefore, let available { figures.memAvailableDropKiB = before - available }
            merge(snapshot)
        }
    }

    func stop() -> MemoryFigures {
        _ = pendingReadySample.wait(timeout: .now() + 5)
        return lock.withLock {
            running = false
            return figures
        }
    }

    private func sample() {
        let snapshot = Self.snapshot(instance.hostProcesses())
        lock.withLock { merge(snapshot) }
    }

    private func merge(_ snapshot: (pss: Int?, rss: Int?, cpu: UInt64?, count: Int)) {
        if let pss = snapshot.pss { figures.pssPeakKiB = max(figures.pssPeakKiB ?? 0, pss) }
        if let rss = snapshot.rss { figures.rssPeakKiB = max(figures.rssPeakKiB ?? 0, rss) }
        if let cpu = snapshot.cpu { figures.lastCPUNs = max(figures.lastCPUNs ?? 0, cpu) }
    }

    /// Sums over `pids`; nil sums when no process could be read.
    static func snapshot(_ pids: [pid_t]) -> (pss: Int?, rss: Int?, cpu: UInt64?, count: Int) {
        var pss = 0, rss = 0, cpu: UInt64 = 0, read = 0
        for pid in pids {
            guard let rollup = FileSystem.readTextIfPresent("/proc/\(pid)/smaps_rollup"), let value = MemInfo.value("Pss", in: rollup) else {
                continue
            }
            read += 1
            pss += value
            rss += MemInfo.value("VmHWM", in: FileSystem.readTextIfPresent("/proc/\(pid)/status") ?? "") ?? 0
            cpu += ProcessState.cpuNs(pid) ?? 0
        }
        return read == 0 ? (nil, nil, nil, 0) : (pss, rss, cpu, read)
    }
}
