import Foundation
import LabContainer
import LabCore
import LabModel

/// Demonstrations run once per scenario, for the claims table: what a
/// container sees of its isolation, and cgroups limiting, accounting for and
/// freezing it. Every container here runs through `InstanceRun`.
enum Checks {
    static func backend(rootfs: String, limits: CgroupLimits, layout: CgroupLayout, paths: LabPaths) throws -> ContainerBackend {
        ContainerBackend(rootfs: rootfs, limits: limits, layout: layout, capabilities: try Capabilities.set(adding: [], dropping: []).mask, paths: paths)
    }

    /// `sh -c SCRIPT` in a container, its stdout and stderr captured.
    static func shell(_ script: String, timeout: Double = 30) -> InstanceRequest {
        InstanceRequest(.command(["/bin/sh", "-c", script]), timeout: timeout, mergeStderr: true)
    }

    static func isolation(rootfs: String, layout: CgroupLayout, paths: LabPaths) async throws -> IsolationEvidence {
        let script = """
            echo pid1=$(cat /proc/1/comm); echo host=$(hostname)
            echo ifaces=$(tail -n +3 /proc/net/dev | cut -d: -f1 | tr -d ' ' | tr '\\n' ' ')
            for n in pid mnt uts ipc net cgroup; do echo ns_$n=$(readlink /proc/self/ns/$n); done
            echo capeff=$(grep CapEff /proc/self/status | cut -f2)
            ls /var/lib/isolab >/dev/null 2>&1 && echo hostroot=yes || echo hostroot=no
            touch /escape 2>/dev/null && echo rootwritable=yes || echo rootwritable=no
            """
        let outcome = try await InstanceRun.run(try backend(rootfs: rootfs, limits: CgroupLimits(), layout: layout, paths: paths), shell(script))
        var values: [String: String] = [:]
        for line in outcome.output.split(separator: "\n") {
            let parts = line.split(separator: "=", maxSplits: 1)
            values[String(parts[0])] = parts.count == 2 ? String(parts[1]) : ""
        }
        var differ: [String: Bool] = [:]
        for kind in ["pid", "mnt", "uts", "ipc", "net", "cgroup"] {
            let host = try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/ns/\(kind)")
            differ[kind] = values["ns_\(kind)"].map { $0 != host && !$0.isEmpty } ?? false
        }
        return IsolationEvidence(
            pidOne: values["pid1"] ?? "?", hostname: values["host"] ?? "?",
            interfaces: (values["ifaces"] ?? "").split(separator: " ").map(String.init), namespacesDiffer: differ,
            capEff: values["capeff"] ?? "?", hostRootReachable: values["hostroot"] == "yes", rootWritable: values["rootwritable"] == "yes")
    }

    static func cgroups(rootfs: String, layout: CgroupLayout, paths: LabPaths) async throws -> CgroupEvidence {
        // Limit: 32 MiB against an allocation of 64 MiB.
        let oom = try await InstanceRun.run(
            try backend(rootfs: rootfs, limits: CgroupLimits(memoryBytes: 32 << 20), layout: layout, paths: paths),
            InstanceRequest(.agent(["alloc", "--mib", "64", "--hold-ms", "500"]), timeout: 30))
        let peak = oom.figures.secondary.first { $0.name == "cgroup_peak" }?.value

        // Priority, accounting and freezing, on a container that counts.
        let weight = 50
        let file = layout.mode == .v2 ? "cpu.weight" : "cpu.shares"
        let observed = Observed()
        let counter = try await InstanceRun.run(
            try backend(rootfs: rootfs, limits: CgroupLimits(cpuWeight: weight), layout: layout, paths: paths),
            shell("i=0; while :; do i=$((i+1)); echo $i >> /tmp/counter; done", timeout: 30)
        ) { instance in
            guard let container = (instance as? ContainerInstance)?.container else { return }
            let written = container.cgroups.directories.lazy.compactMap { FileSystem.readTextIfPresent($0 + "/" + file)?.trimmingWhitespace() }.first
            let path = "/proc/\(container.pid)/root/tmp/counter"
            // The shell appends a line per count: the last complete line is the count.
            func read() -> Int { lastCount(path) }
            for _ in 0..<500 where read() <= 0 { try await Task.sleep(nanoseconds: 10_000_000) }
            try container.freeze()
            let frozen = read()
            try await Task.sleep(nanoseconds: 500_000_000)
            let held = read() == frozen && frozen > 0
            try container.thaw()
            try await Task.sleep(nanoseconds: 200_000_000)
            observed.set(written: written, held: held, moved: read() > frozen)
        }
        let values = observed.values
        return CgroupEvidence(
            mode: layout.mode.rawValue, memoryLimitMiB: 32, oomKilled: oom.exit.text.hasPrefix("killed by the memory limit"),
            exitDescription: oom.exit.text, peakMemoryMiB: peak,
            cpuTimeMs: counter.figures.cpuNs.map { Double($0) / 1e6 }, frozeCounterHeld: values.held, thawedCounterMoved: values.moved,
            cpuWeight: weight, cpuWeightFile: file, cpuWeightWritten: values.written)
    }

    /// What the freeze check saw, carried out of its closure.
    final class Observed: @unchecked Sendable {
        private let lock = NSLock()
        private var state: (written: String?, held: Bool, moved: Bool) = (nil, false, false)
        func set(written: String?, held: Bool, moved: Bool) { lock.withLock { state = (written, held, moved) } }
        var values: (written: String?, held: Bool, moved: Bool) { lock.withLock { state } }
    }
}

/// The last complete line of a counter file, as a number (-1 if none).
public func lastCount(_ path: String) -> Int {
    guard let text = FileSystem.readTextIfPresent(path), let end = text.lastIndex(of: "\n") else { return -1 }
    let complete = text[..<end]
    let start = complete.lastIndex(of: "\n").map { complete.index(after: $0) } ?? complete.startIndex
    return Int(complete[start...]) ?? -1
}
