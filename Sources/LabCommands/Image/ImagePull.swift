import ArgumentParser
import Foundation
import LabCore
import LabImage
import LabModel

#if canImport(Glibc)
import Glibc
#endif

/// What pull and push share: the registry's credentials and the plain-HTTP choice.
public struct RegistryOptions: ParsableArguments {
    @Option(help: ArgumentHelp("An auth file as skopeo, podman and Docker write it ({\"auths\": {\"HOST\": {\"auth\": \"BASE64(user:password)\"}}}); mode 600 (default: $REGISTRY_AUTH_FILE).", valueName: "file"))
    public var authfile: String?

    @Flag(help: "Speak plain HTTP to a registry that is not on loopback (loopback always is).")
    public var insecure = false

    public init() {}

    /// The auth file named, if any.
    public var authFile: String? {
        authfile ?? ProcessInfo.processInfo.environment["REGISTRY_AUTH_FILE"].flatMap { $0.isEmpty ? nil : $0 }
    }

    public static func parse(_ text: String) throws -> ImageReference {
        do {
            return try ImageReference(parsing: text)
        } catch {
            throw LabError(.invalidInput, error.description)
        }
    }
}

/// Pull and push run in `isolab-registry`, the lab's CLI with the registry
/// client (async-http-client, SwiftNIO) linked in: `isolab` itself does not
/// link them, so that every other command starts as fast as before (linked
/// in, `isolab --version` took 1.43 x as long; Benchmarks/README.md). The
/// helper sets these; in `isolab` they are nil and the command execs the
/// helper beside it with the same arguments.
public enum RegistryCommands {
    nonisolated(unsafe) public static var pull: (@Sendable (ImagePull) async throws -> Void)?
    nonisolated(unsafe) public static var push: (@Sendable (ImagePush) async throws -> Void)?

    /// Replaces this process with `isolab-registry` (beside this executable),
    /// the same arguments: the signal handlers, the exit status and the
    /// output are the helper's own.
    static func execHelper() throws -> Never {
        let executable = FileSystem.readLink("/proc/self/exe") ?? CommandLine.arguments[0]
        let helper = (executable.lastIndex(of: "/").map { String(executable[..<$0]) } ?? ".") + "/isolab-registry"
        guard FileSystem.exists(helper) else {
            throw LabError(.failed, "isolab-registry is missing beside \(executable): it pulls and pushes; build it (swift build, or make run)")
        }
        let arguments = [helper] + CommandLine.arguments.dropFirst()
        var pointers = arguments.map { strdup($0) } + [nil]
        execv(helper, &pointers)
        throw LabError.syscall("exec \(helper)")
    }
}

/// `isolab image pull REF [--name NAME]`.
public struct ImagePull: AsyncParsableCommand, WritesLabState {
    public static let configuration = CommandConfiguration(
        commandName: "pull",
        abstract: "Pull an image from a registry (OCI distribution API) into the store.",
        discussion: """
            REF is HOST[:PORT]/REPOSITORY[:TAG][@sha256:DIGEST], the host always named: \
            127.0.0.1:5000/lab/app:v1. An index is resolved to this host's platform. Blobs the \
            store has are not fetched again; each one fetched is checked against its digest as it \
            arrives, and a broken connection is resumed. The image is stored under REF (or --name) \
            and runs wherever an image name is taken: isolab container run --image REF.
            """
    )

    @OptionGroup var global: GlobalOptions
    @OptionGroup public var registry: RegistryOptions

    @Argument(help: "HOST[:PORT]/REPOSITORY[:TAG][@DIGEST].") public var reference: String

    @Option(help: "Store it under this name instead of REF.") public var name: String?

    public init() {}

    public func run() async throws {
        _ = global.bootstrapLogging()
        guard geteuid() == 0 else { throw LabError(.invalidInput, "image pull must run as root (it unpacks layers with their owners); use sudo") }
        _ = try RegistryOptions.parse(reference)
        if let name, !ImageDefinition.isValidImageName(name) {
            throw LabError(.invalidInput, "--name '\(name)' is not a valid image name (1-64 of a-z 0-9 . _ -, or a registry reference)")
        }
        guard let pull = RegistryCommands.pull else { try RegistryCommands.execHelper() }
        try await pull(self)
    }
}

/// `isolab image push NAME [REF]`.
public struct ImagePush: AsyncParsableCommand, WritesLabState {
    public static let configuration = CommandConfiguration(
        commandName: "push",
        abstract: "Push a stored image to a registry (OCI distribution API).",
        discussion: """
            NAME is a stored image (a name, a pulled image's reference, or a digest prefix); REF, \
            HOST[:PORT]/REPOSITORY[:TAG], is where it goes (default: NAME, when NAME is a \
            reference). An imported or pulled image goes byte for byte, so its digest is the same \
            at the registry; a built one goes in its OCI form (one layer, the agent left out). \
            Blobs the registry has are skipped (HEAD) or mounted from the repository the image came \
            from; the manifest goes last.
            """
    )

    @OptionGroup var global: GlobalOptions
    @OptionGroup public var registry: RegistryOptions

    @Argument(help: "The stored image: a name, a reference, or a digest prefix.") public var image: String
    @Argument(help: "HOST[:PORT]/REPOSITORY[:TAG] to push to (default: NAME).") public var reference: String?

    public init() {}

    /// The image to push: a built-in is made (or found) first, as every
    /// command that takes an image does.
    public func record() throws -> ImageStore.Record { try ContainerImage.resolve(image) }

    public func run() async throws {
        _ = global.bootstrapLogging()
        _ = try RegistryOptions.parse(reference ?? image)
        guard let push = RegistryCommands.push else { try RegistryCommands.execHelper() }
        try await push(self)
    }
}
