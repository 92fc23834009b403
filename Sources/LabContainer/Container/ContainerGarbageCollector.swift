import Foundation
import LabCore
import LabModel

/// Finds and removes what the containers of dead lab processes left: their
/// processes, cgroups, run directories and state files. It acts only on
/// containers recorded by a state file in this `ISOLAB_HOME` whose owner
/// is gone (the same process, by its start time: a reused pid does not
/// count). A cgroup or a process it has no state file for belongs to
/// another lab, or to a start still under way, and is never touched.
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
        for name in FileSystem.list(directory) where name.hasSuffix(".json") {
            let path = directory + "/" + name
            guard let bytes = try? FileSystem.readBytes(path),
                  let state = try? JSONDecoder().decode(Container.State.self, from: Data(bytes)),
                  name == state.id + ".json", ContainerSpec.isValidID(state.id) else { continue }
            if ProcessState.isAlive(state.ownerPID, startedAt: state.ownerStartTime) { continue }
            // Only the groups the lab makes for this id: never a path a state file could point elsewhere.
            let groups = state.cgroups.filter { isLabGroup($0, id: state.id) }
            if dryRun {
                report.removed.append("container \(state.id) (owner pid \(state.ownerPID) is gone)")
                continue
            }
            var failed = false
            for group in groups where FileSystem.isDirectory(group) {
                // The processes are the ones in the group, whatever their pids are now.
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
                    failed = true
                }
            }
            if state.runDirectory == directory + "/" + state.id {
                try? FileSystem.removeTree(state.runDirectory)
            }
            // Kept while a group is left, so that the next gc tries again.
            if !failed { unlink(path) }
            report.removed.append("container \(state.id) (owner pid \(state.ownerPID) is gone)")
        }
        // The probe groups of an isolab doctor that was killed.
        for group in layout.labGroups() {
            let id = String(group.split(separator: "/").last ?? "")
            guard id.hasPrefix("doctor-"), let pid = pid_t(id.dropFirst("doctor-".count)), !ProcessState.isAlive(pid),
                  CgroupFile.pids(group).isEmpty else { continue }
            if dryRun {
                report.removed.append("cgroup \(group)")
            } else if (try? CgroupFile.remove(group)) != nil {
                report.removed.append("cgroup \(group)")
            }
        }
        return report
    }

    /// `<a cgroup mount of this host>/isolab/<id>`.
    func isLabGroup(_ path: String, id: String) -> Bool {
        layout.mounts.contains { path == $0.mountPoint + "/" + CgroupLayout.parentName + "/" + id }
    }
}
