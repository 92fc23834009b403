import ArgumentParser
import LabContainer
import LabCore
import LabImage
import LabVirt

/// `isolab gc`: remove what a lab killed with SIGKILL left behind.
struct GC: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "gc",
        abstract: "Remove leftovers of lab processes that were killed: containers' processes, cgroups, run directories, isolab-* libvirt domains, unfinished imports; and image blobs and layers no image names.",
        discussion: """
            Only resources whose owning lab process is gone are touched; a running lab's are left alone. \
            It also repairs the modes of the lab's own directories left by an older version (the state \
            directory closed to others, the way to the guests' files open to QEMU's user) and says what it changed.
            """
    )

    @OptionGroup var global: GlobalOptions

    @Option(name: .customLong("libvirt-uri"), help: "libvirt connection URI.")
    var libvirtURI = "qemu:///system"

    @Flag(name: .customLong("dry-run"), help: "Only say what would be removed.")
    var dryRun = false

    func run() async throws {
        _ = global.bootstrapLogging()
        let paths = LabPaths.fromEnvironment()
        var repairs: [StateRepair] = []
        if !dryRun && FileSystem.isDirectory(paths.stateDirectory) { repairs = try paths.secureStateDirectory() }
        for repair in repairs { FileOutput.standardOutput("\(repair)\n") }
        var report = try ContainerGarbageCollector(paths: paths, layout: try CgroupLayout.detectHost()).collect(dryRun: dryRun)
        do {
            let connection = try await LibvirtConnection.open(uri: libvirtURI)
            report.removed += try await VMGarbageCollector(connection: connection, paths: paths).collect(dryRun: dryRun)
        } catch {
            report.failed.append("libvirt domains (not checked): \(error)")
        }
        report.removed += ImageStore(paths: paths).collectGarbage(dryRun: dryRun)
        let verb = dryRun ? "would remove" : "removed"
        for line in report.removed { FileOutput.standardOutput("\(verb) \(line)\n") }
        for line in report.failed { FileOutput.standardError("isolab: could not remove \(line)\n") }
        if report.removed.isEmpty && report.failed.isEmpty && repairs.isEmpty { FileOutput.standardOutput("nothing to remove\n") }
        if !report.failed.isEmpty { throw ExitCode(1) }
    }
}
