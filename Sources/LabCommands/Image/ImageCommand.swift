import ArgumentParser

/// `isolab image`: the lab's local image store.
struct ImageCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "image",
        abstract: "Build, list, inspect and remove images (one file tree: container rootfs and VM initramfs).",
        subcommands: [ImageBuild.self, ImageList.self, ImageInspect.self, ImageRemove.self]
    )
}
