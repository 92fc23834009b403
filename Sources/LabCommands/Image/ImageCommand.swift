import ArgumentParser

/// `isolab image`: the lab's local image store.
struct ImageCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "image",
        abstract: "Build, import, export, pull, push, list, inspect and remove images (built ones: one file tree; imported OCI images: layers).",
        subcommands: [ImageBuild.self, ImageImport.self, ImageExport.self, ImagePull.self, ImagePush.self, ImageList.self, ImageInspect.self, ImageRemove.self]
    )
}
