import ArgumentParser
import LabContainer
import LabCore

/// `isolab gc`: remove what a lab killed with SIGKILL left behind.
struct GC: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "gc",
        abstract: "Remove leftovers of lab processes that were killed: containers' processes, cgroups and run directories.",
        discussion: "Only resources whose owning lab process is gone are touched; a running lab's are left alone."
    )

    @OptionGroup var global: GlobalOptions

    func run() throws {
        _ = global.bootstrapLogging()
        let report = try ContainerGarbageCollector(paths: .fromEnvironment(), layout: try CgroupLayout.detectHost()).collect()
        for line in report.removed { FileOutput.standardOutput("removed \(line)\n") }
        for line in report.failed { FileOutput.standardError("isolab: could not remove \(line)\n") }
        if report.removed.isEmpty && report.failed.isEmpty { FileOutput.standardOutput("nothing to remove\n") }
        if !report.failed.isEmpty { throw ExitCode(1) }
    }
}
