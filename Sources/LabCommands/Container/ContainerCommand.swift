import ArgumentParser

/// `isolab container`: the lab's own containers.
struct ContainerCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "container",
        abstract: "Run commands in the lab's own containers (namespaces, cgroups, capabilities, read-only root).",
        subcommands: [ContainerRun.self, ContainerEscapeTest.self]
    )
}
