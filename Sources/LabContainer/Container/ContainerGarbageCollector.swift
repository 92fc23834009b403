import Foundation
import LabCore

/// Finds and removes what containers of dead lab processes left: processes
/// still in an `isolab/<id>` cgroup, the cgroups, run directories and state files.
public struct ContainerGarbageCollector {
    public var paths: LabPaths
    public var layout: CgroupLayout

    public init(paths: LabPaths, layout: CgroupLayout) {
        self.paths = paths
        self.layout = layout
    }

    public struct Report: Sendable {
        public var removed: [String] = []
        public var failed: [String] = []
    }

    /// Removes what dead labs left; with `dryRun`, only says what it would remove.
    public func collect(dryRun: Bool = false) throws -> Report {
        var report = Report()
        let directory = Container.stateDirectory(paths)
        var live = Set<String>()
        for name in FileSystem.list(directory) where name.hasSuffix(".json") {
            let path = directory + "/" + name
            guard let bytes = try? FileSystem.readBytes(path),
                  let state = try? JSONDecoder().decode(Container.State.self, from: Data(bytes)) else { continue }
            if ProcessState.isAlive(state.ownerPID) {
                live.insert(state.id)
                continue
            }
            if !dryRun {
                if let pid = state.pid, ProcessState.isAlive(pid) { kill(pid, SIGKILL) }
                try? FileSystem.removeTree(state.runDirectory)
                unlink(path)
            }
            report.removed.append("container \(state.id) (owner pid \(state.ownerPID) is gone)")
        }
        // Run directories without a state file (a lab killed between the two writes).
        for name in FileSystem.list(directory) where !name.hasSuffix(".json") && !live.contains(name) {
            if !dryRun { try? FileSystem.removeTree(directory + "/" + name) }
            report.removed.append("run directory \(directory)/\(name)")
        }
        for group in layout.labGroups() {
            let id = String(group.split(separator: "/").last ?? "")
            if live.contains(id) { continue }
            // isolab doctor's probe groups, while their doctor runs.
            if id.hasPrefix("doctor-"), let pid = pid_t(id.dropFirst("doctor-".count)), ProcessState.isAlive(pid) { continue }
            if dryRun {
                report.removed.append("cgroup \(group)")
                continue
            }
            // One group directory of one hierarchy: signal what is left in it, then remove it.
            let pids = CgroupFile.pids(group)
            if !pids.isEmpty {
                if FileSystem.exists(group + "/cgroup.kill") {
                    try? CgroupFile.write(group + "/cgroup.kill", "1")
                } else {
                    pids.forEach { kill($0, SIGKILL) }
                }
                _ = CgroupFile.waitUntil { CgroupFile.pids(group).isEmpty }
            }
            do {
                try CgroupFile.remove(group)
                report.removed.append("cgroup \(group)" + (pids.isEmpty ? "" : " and its \(pids.count) process(es)"))
            } catch {
                report.failed.append("cgroup \(group): \(error)")
            }
        }
        return report
    }
}
