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
            let manager: any CgroupManager = group.contains("/unified/") || layout.mode == .v2
                ? CgroupV2Manager(group: group) : CgroupV1Manager(groups: ["x": group])
            let pids = manager.processes()
            if !pids.isEmpty {
                if layout.mode == .v2 { try? manager.killAll() } else { pids.forEach { kill($0, SIGKILL) } }
                _ = waitForEmpty(manager)
            }
            do {
                try manager.destroy()
                report.removed.append("cgroup \(group)" + (pids.isEmpty ? "" : " and its \(pids.count) process(es)"))
            } catch {
                report.failed.append("cgroup \(group): \(error)")
            }
        }
        return report
    }

    func waitForEmpty(_ manager: any CgroupManager) -> Bool {
        for _ in 0..<1000 {
            if manager.processes().isEmpty { return true }
            usleep(1000)
        }
        return false
    }
}
