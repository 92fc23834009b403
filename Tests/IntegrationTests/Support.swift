import Foundation
import LabCore
import LabModel

/// An executable of this package built beside the test bundle (`make test` builds them first).
func builtExecutable(_ name: String) throws -> String {
    let bundleDirectory = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().path
    let candidates = [
        bundleDirectory + "/" + name,
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().path + "/.build/debug/" + name,
    ]
    guard let found = candidates.first(where: { FileSystem.exists($0) }) else {
        throw LabError(.notFound, "\(name) executable not found in \(candidates); run swift build first")
    }
    return found
}

func isolabExecutable() throws -> String { try builtExecutable("isolab") }

/// Subdirectories of every `isolab` cgroup parent on this host: each is a leak.
func leftoverCgroups() -> [String] {
    var found: [String] = []
    for hierarchy in FileSystem.list("/sys/fs/cgroup") {
        for parent in ["/sys/fs/cgroup/\(hierarchy)/isolab", "/sys/fs/cgroup/isolab"] where FileSystem.isDirectory(parent) {
            found += FileSystem.list(parent).filter { FileSystem.isDirectory(parent + "/" + $0) }.map { parent + "/" + $0 }
        }
    }
    return found
}
