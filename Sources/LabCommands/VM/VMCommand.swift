import ArgumentParser

/// `isolab vm`: the same image booted as a libvirt guest.
struct VMCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "vm",
        abstract: "Boot an image as a libvirt/QEMU guest and run a workload in it.",
        subcommands: [VMRunCommand.self]
    )
}
