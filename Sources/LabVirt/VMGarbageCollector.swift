import Foundation
import LabCore
import LabModel
import Logging

/// Finds and removes the guests of lab processes that died (a SIGKILLed
/// `isolab vm run`): only those recorded by a state file in this
/// `ISOLAB_HOME`, whose owner is gone. An `isolab-*` domain that no state
/// file here names belongs to another lab (another `ISOLAB_HOME`, a test's)
/// and is never touched.
public struct VMGarbageCollector: Sendable {
    public var connection: LibvirtConnection
    public var paths: LabPaths

    public init(connection: LibvirtConnection, paths: LabPaths) {
        self.connection = connection
        self.paths = paths
    }

    /// What was removed, as lines for the user.
    public func collect(dryRun: Bool = false) async throws -> [String] {
        var removed: [String] = []
        let directory = VirtualMachine.stateDirectory(paths)
        let running = Set(try await connection.domainNames())
        let known = Set(FileSystem.list(directory).filter { $0.hasSuffix(".json") }.map { "isolab-" + $0.dropLast(5) })
        for name in FileSystem.list(directory) where name.hasSuffix(".json") {
            let path = directory + "/" + name
            guard let bytes = try? FileSystem.readBytes(path),
                  let state = try? JSONDecoder().decode(VirtualMachine.State.self, from: Data(bytes)) else { continue }
            if ProcessState.isAlive(state.ownerPID, startedAt: state.ownerStartTime) { continue }
            if running.contains(state.domain) {
                if !dryRun { try await connection.destroy(name: state.domain) }
                removed.append("libvirt domain \(state.domain)")
            }
            // The directory must be the one this lab made for the guest, never a path elsewhere.
            if !dryRun {
                if state.directory == directory + "/" + state.id { try? FileSystem.removeTree(state.directory) }
                unlink(path)
            }
            removed.append("VM files of \(state.domain) (owner pid \(state.ownerPID) is gone)")
        }
        let others = running.filter { $0.hasPrefix("isolab-") && !known.contains($0) }
        if !others.isEmpty {
            Logger(label: "isolab.gc").debug("isolab domains of another lab, left alone", metadata: ["domains": "\(others.sorted())"])
        }
        return removed
    }
}
