import Foundation
import LabCommands
import LabCore
import LabImage
import LabModel
import LabRegistry

#if canImport(Glibc)
import Glibc
#endif

/// What `image pull` and `image push` do, once their arguments are checked.
enum RegistryRun {
    static func credentials(_ options: RegistryOptions, _ reference: ImageReference) throws -> RegistryCredentials? {
        try options.authFile.flatMap { try RegistryCredentials.load(file: $0, host: reference.host) }
    }

    /// A line per blob on a terminal.
    static var progress: (@Sendable (String) -> Void)? {
        guard isatty(STDERR_FILENO) == 1 else { return nil }
        return { line in FileOutput.standardError("  " + line + "\n") }
    }

    static func pull(_ command: ImagePull) async throws {
        let reference = try RegistryOptions.parse(command.reference)
        let credentials = try credentials(command.registry, reference)
        CleanupRegistry.shared.installSignalHandlers()
        var puller = ImagePuller(images: ImageStore(paths: .fromEnvironment()))
        puller.progress = progress
        let result = try await RegistryClient.with(reference, insecure: command.registry.insecure, credentials: credentials) { client in
            try await puller.pull(reference, client: client, name: command.name)
        }
        CleanupRegistry.shared.parkIfInterrupted()
        ImageWarnings.skipped(result.skipped)
        let layers = result.record.manifest.oci?.layers.count ?? 0
        let seconds = result.phases.reduce(0) { $0 + $1.1 }
        FileOutput.standardOutput("pulled \(result.name) \(result.manifest.digest): \(layers) layer\(layers == 1 ? "" : "s"); "
            + "\(result.blobsFetched) blob\(result.blobsFetched == 1 ? "" : "s") fetched (\(ByteSize.format(UInt64(result.bytesFetched)))), \(result.blobsStored) already stored; "
            + String(format: "%.2f s", seconds) + " (" + result.phases.map { "\($0.0) " + String(format: "%.3f", $0.1) }.joined(separator: ", ") + ")\n")
    }

    static func push(_ command: ImagePush) async throws {
        let reference = try RegistryOptions.parse(command.reference ?? command.image)
        let credentials = try credentials(command.registry, reference)
        CleanupRegistry.shared.installSignalHandlers()
        let record = try command.record()
        var pusher = ImagePusher(images: ImageStore(paths: .fromEnvironment()))
        pusher.progress = progress
        let result = try await RegistryClient.with(reference, insecure: command.registry.insecure, credentials: credentials) { client in
            try await pusher.push(record, to: reference, client: client)
        }
        CleanupRegistry.shared.parkIfInterrupted()
        FileOutput.standardOutput("pushed \(command.image) to \(reference) \(result.manifest.digest): \(result.blobsUploaded) blob\(result.blobsUploaded == 1 ? "" : "s") uploaded "
            + "(\(ByteSize.format(UInt64(result.bytesUploaded)))), \(result.blobsMounted) mounted, \(result.blobsPresent) already there\n")
    }
}
