import Foundation
import LabModel
import NIOCore
import Testing

@testable import LabRegistry

@Suite struct ImageReferenceTests {
    @Test func parsesHostPortRepositoryAndTag() throws {
        let reference = try ImageReference(parsing: "127.0.0.1:5000/lab/app:v1")
        #expect(reference.host == "127.0.0.1:5000")
        #expect(reference.repository == "lab/app")
        #expect(reference.tag == "v1")
        #expect(reference.digest == nil)
        #expect(reference.manifestReference == "v1")
        #expect(reference.isLoopback)
        #expect(reference.description == "127.0.0.1:5000/lab/app:v1")
    }

    @Test func noTagMeansLatestAndThePortIsNoTag() throws {
        let reference = try ImageReference(parsing: "localhost:5000/app")
        #expect(reference.tag == "latest")
        #expect(reference.repository == "app")
        #expect(try ImageReference(parsing: "registry.example.org/a/b").isLoopback == false)
    }

    @Test func aDigestWinsOverTheTag() throws {
        let digest = "sha256:" + String(repeating: "ab", count: 32)
        let reference = try ImageReference(parsing: "[::1]:5000/lab/app:v1@" + digest)
        #expect(reference.hostName == "::1")
        #expect(reference.isLoopback)
        #expect(reference.manifestReference == digest)
        #expect(reference.tag == "v1")
    }

    @Test(arguments: [
        "busybox",                    // no host: Docker Hub, never asked for
        "library/busybox:1",          // no host either: 'library' has no dot or port
        "127.0.0.1:5000/Lab/app",     // upper case in the repository
        "127.0.0.1:5000/lab//app",    // an empty component
        "127.0.0.1:5000/lab/app:",    // an empty tag
        "127.0.0.1:5000/lab/app:-x",  // a tag starting with '-'
        "127.0.0.1:99999/lab/app",    // no such port
        "127.0.0.1:5000/lab/app@sha256:abc",  // a short digest
        "127.0.0.1:5000/lab_-/app",   // a bad separator
    ])
    func refusesWhatIsNoReference(_ text: String) {
        #expect(throws: ImageReference.Invalid.self) { try ImageReference(parsing: text) }
    }

    @Test func onlyLoopbackAddressesAreLoopback() throws {
        #expect(try ImageReference(parsing: "127.0.0.2:5000/a").isLoopback)
        #expect(try ImageReference(parsing: "localhost/a").isLoopback)
        // A DNS name that begins like a loopback address gets no plain HTTP.
        #expect(try ImageReference(parsing: "127.evil.example:5000/a/b").isLoopback == false)
        #expect(try ImageReference(parsing: "127.0.0.1.example.org/a").isLoopback == false)
    }

    @Test func aReferenceTooLongForTheStoreIsRefusedBeforeAnything() {
        let long = "127.0.0.1:5000/" + String(repeating: "a", count: 170) + ":" + String(repeating: "t", count: 20)
        #expect(throws: ImageReference.Invalid.self) { try ImageReference(parsing: long) }
        #expect(!ImageDefinition.isValidImageName(long))
        #expect(ImageDefinition.isValidImageName("127.0.0.1:5000/" + String(repeating: "a", count: 100) + ":v1"))
    }

    @Test func anOriginIsSchemeHostAndPort() {
        #expect(RegistryClient.origin("http://127.0.0.1:5000/v2/x") == RegistryClient.origin("http://127.0.0.1:5000"))
        #expect(RegistryClient.origin("https://r.example/v2/") == "https://r.example:443")
        #expect(RegistryClient.origin("http://storage.example:5000/x") != RegistryClient.origin("http://127.0.0.1:5000"))
        #expect(RegistryClient.origin("https://127.0.0.1:5000/x") != RegistryClient.origin("http://127.0.0.1:5000"))
    }

    @Test func aStoredNameIsALabNameOrAReference() {
        #expect(ImageDefinition.isValidImageName("busybox"))
        #expect(ImageDefinition.isValidImageName("127.0.0.1:5000/lab/app:v1"))
        #expect(!ImageDefinition.isValidImageName("lab/app"))
        #expect(!ImageDefinition.isValidImageName("../etc"))
    }
}

@Suite struct AuthChallengeTests {
    @Test func aScopeWithACommaStaysWhole() throws {
        let challenge = try #require(AuthChallenge(header: #"Bearer realm="http://127.0.0.1:45127/token",service="isolab-registry",scope="repository:lab/x:pull,push""#))
        #expect(challenge.scheme == "bearer")
        #expect(challenge.parameters["realm"] == "http://127.0.0.1:45127/token")
        #expect(challenge.parameters["service"] == "isolab-registry")
        #expect(challenge.parameters["scope"] == "repository:lab/x:pull,push")
    }

    @Test func basicAndAnErrorParameter() throws {
        #expect(AuthChallenge(header: #"Basic realm="isolab-test""#)?.parameters == ["realm": "isolab-test"])
        let insufficient = try #require(AuthChallenge(header: #"Bearer realm="r", scope="repository:a:push,pull", error="insufficient_scope""#))
        #expect(insufficient.parameters["error"] == "insufficient_scope")
        #expect(insufficient.parameters["scope"] == "repository:a:push,pull")
    }
}

@Suite struct CredentialsTests {
    func file(_ text: String, mode: mode_t) throws -> String {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("auth-\(UUID().uuidString).json").path
        try Data(text.utf8).write(to: URL(fileURLWithPath: path))
        chmod(path, mode)
        return path
    }

    @Test func readsTheEntryForTheHost() throws {
        let auth = Data("lab:s3cret:x".utf8).base64EncodedString()
        let path = try file(#"{"auths": {"127.0.0.1:5000": {"auth": "\#(auth)"}}}"#, mode: 0o600)
        defer { unlink(path) }
        let credentials = try RegistryCredentials.load(file: path, host: "127.0.0.1:5000")
        #expect(credentials == RegistryCredentials(username: "lab", password: "s3cret:x"))
        #expect(try RegistryCredentials.load(file: path, host: "127.0.0.1:5001") == nil)
    }

    @Test func refusesAFileOthersCanRead() throws {
        let path = try file(#"{"auths": {}}"#, mode: 0o644)
        defer { unlink(path) }
        #expect(throws: (any Error).self) { try RegistryCredentials.load(file: path, host: "h:1") }
        chmod(path, 0o600)
        #expect(try RegistryCredentials.load(file: path, host: "h:1") == nil)
    }

    @Test func refusesAnEntryThatIsNotUserColonPassword() throws {
        let path = try file(#"{"auths": {"h:1": {"auth": "bm9jb2xvbg=="}}}"#, mode: 0o600)
        defer { unlink(path) }
        #expect(throws: (any Error).self) { try RegistryCredentials.load(file: path, host: "h:1") }
    }
}

@Suite struct RegistryErrorTests {
    @Test func theErrorDocumentBecomesOneLine() {
        let body = #"{"errors":[{"code":"MANIFEST_UNKNOWN","message":"manifest unknown","detail":{"Tag":"nope"}}]}"#
        let (code, text) = RegistryClient.errorText(.notFound, .init(string: body))
        #expect(code == "MANIFEST_UNKNOWN")
        #expect(text == "404 MANIFEST_UNKNOWN: manifest unknown")
        #expect(RegistryClient.errorText(.notFound, .init(string: "404 page not found")).code == nil)
    }

    @Test func aFullDiskIsSaid() {
        let body = #"{"errors":[{"code":"UNKNOWN","message":"unknown error","detail":"write /x/data: no space left on device"}]}"#
        #expect(RegistryClient.errorText(.internalServerError, .init(string: body)).text.contains("no space left"))
    }
}
