import Foundation
import LabContainer
import LabCore

/// Demonstrations run once per scenario, for the claims table: what a
/// container sees of its isolation, and cgroups limiting, accounting for and
/// freezing it.
enum Checks {
    static func startShell(_ script: String, rootfs: String, limits: CgroupLimits, layout: CgroupLayout) throws -> (Container, Int32) {
        var fds: [Int32] = [-1, -1]
        guard pipe(&fds) == 0 else { throw LabError.syscall("pipe") }
        var spec = ContainerSpec(rootfs: rootfs, command: ["/bin/sh", "-c", script], limits: limits,
                                 capabilities: try Capabilities.set(adding: [], dropping: []).mask)
        spec.stdout = fds[1]
        spec.stderr = fds[1]
        defer { close(fds[1]) }
        do {
            return (try Container.create(spec, layout: layout), fds[0])
        } catch {
            close(fds[0])
            throw error
        }
    }

    static func readAll(_ fd: Int32) -> String {
        var collector = OutputCollector()
        collector.drain(fd, deadline: MonotonicClock.now() + 30_000_000_000)
        close(fd)
        return collector.text
    }

    static func isolation(rootfs: String, layout: CgroupLayout) throws -> IsolationEvidence {
        let script = """
            echo pid1=$(cat /proc/1/comm); echo host=$(hostname)
            echo ifaces=$(tail -n +3 /proc/net/dev | cut -d: -f1 | tr -d ' ' | tr '\\n' ' ')
            for n in pid mnt uts ipc net cgroup; do echo ns_$n=$(readlink /proc/self/ns/$n); done
            echo capeff=$(grep CapEff /proc/self/status | cut -f2)
            ls /var/lib/isolab >/dev/null 2>&1 && echo hostroot=yes || echo hostroot=no
            touch /escape 2>/dev/null && echo rootwritable=yes || echo rootwritable=no
            """
        let (container, output) = try startShell(script, rootfs: rootfs, limits: CgroupLimits(), layout: layout)
        let text = readAll(output)
        container.wait()
        try container.destroy()
        var values: [String: String] = [:]
        for line in text.split(separator: "\n") {
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

    static func cgroups(rootfs: String, layout: CgroupLayout) throws -> CgroupEvidence {
        // Limit: 32 MiB against an allocation of 64 MiB.
        let (oom, oomOutput) = try startShell("/sbin/isolab-agent run alloc --mib 64 --hold-ms 500", rootfs: rootfs,
                                              limits: CgroupLimits(memoryBytes: 32 << 20), layout: layout)
        _ = readAll(oomOutput)
        let status = oom.wait()
        let killed = oom.describeExit(status)
        let oomStats = oom.stats()
        try oom.destroy()

        // Priority, accounting and freezing, on a container that counts.
        let weight = 50
        let (counter, counterOutput) = try startShell(
            "i=0; while :; do i=$((i+1)); echo $i >> /tmp/counter; done", rootfs: rootfs,
            limits: CgroupLimits(cpuWeight: weight), layout: layout)
        close(counterOutput)
        defer { try? counter.kill(); counter.wait(); try? counter.destroy() }
        let file = layout.mode == .v2 ? "cpu.weight" : "cpu.shares"
        let written = counter.cgroups.directories.lazy.compactMap { FileSystem.readTextIfPresent($0 + "/" + file)?.trimmingWhitespace() }.first
        let path = "/proc/\(counter.pid)/root/tmp/counter"
        // The shell appends a line per count: the last complete line is the count.
        func read() -> Int { lastCount(path) }
        for _ in 0..<500 where read() <= 0 { usleep(10_000) }
        try counter.freeze()
        let frozen = read()
        usleep(500_000)
        let held = read() == frozen && frozen > 0
        try counter.thaw()
        usleep(200_000)
        let moved = read() > frozen
        let stats = counter.stats()
        return CgroupEvidence(
            mode: layout.mode.rawValue, memoryLimitMiB: 32, oomKilled: killed.text.hasPrefix("killed by the memory limit"),
            exitDescription: killed.text, peakMemoryMiB: oomStats.memoryPeakBytes.map { Double($0) / 1_048_576 },
            cpuTimeMs: stats.cpuUsageNs.map { Double($0) / 1e6 }, frozeCounterHeld: held, thawedCounterMoved: moved,
            cpuWeight: weight, cpuWeightFile: file, cpuWeightWritten: written)
    }
}

/// The last complete line of a counter file, as a number (-1 if none).
public func lastCount(_ path: String) -> Int {
    guard let text = FileSystem.readTextIfPresent(path), let end = text.lastIndex(of: "\n") else { return -1 }
    let complete = text[..<end]
    let start = complete.lastIndex(of: "\n").map { complete.index(after: $0) } ?? complete.startIndex
    return Int(complete[start...]) ?? -1
}
