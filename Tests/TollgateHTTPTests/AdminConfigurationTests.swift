import Foundation
import Testing
@testable import TollgateConfiguration
import TollgateCore
@testable import TollgateHTTP

@Suite struct AdminConfigurationTests {
    static let base = """
        upstream: {url: "http://127.0.0.1:8403"}
        secrets: [{id: k1, env: TOLLGATE_SECRET}]
        routes: [{path: /free, resource: free, anonymous: true}]

        """

    func issues(_ yaml: String) -> [ConfigurationIssue] {
        do {
            return try ConfigurationLoader.parse(Self.base + yaml).warnings
        } catch {
            return error.issues
        }
    }

    @Test func absentMeansNoAdminAPIAndDefaultsApply() throws {
        #expect(try ConfigurationLoader.parse(Self.base).0.admin == nil)
        let (configuration, warnings) = try ConfigurationLoader.parse(Self.base + "admin: {token: {env: TOLLGATE_ADMIN_TOKEN}}")
        #expect(warnings.isEmpty)
        #expect(configuration.admin == AdminConfiguration(listen: .init(host: "127.0.0.1", port: 8405), token: .environment("TOLLGATE_ADMIN_TOKEN")))
        let file = try ConfigurationLoader.parse(Self.base + "admin: {listen: \"[::1]:9000\", token: {file: /run/admin-token}}").0.admin
        #expect(file == AdminConfiguration(listen: .init(host: "::1", port: 9000), token: .file("/run/admin-token")))
    }

    @Test func theTokenIsRequiredAndNeverInline() {
        let missing = issues("admin: {listen: 127.0.0.1:8405}")
        #expect(missing.contains { $0.path == "admin.token" && $0.severity == .error && $0.line == 4 })
        let inline = issues("admin:\n  token: {value: hunter2hunter2hunter2}")
        #expect(inline.contains { $0.path == "admin.token.value" && $0.message.contains("never written inline") && $0.line == 5 })
        let both = issues("admin: {token: {env: A, file: /b}}")
        #expect(both.contains { $0.path == "admin.token" && $0.message.contains("exactly one") })
        let typo = issues("admin: {token: {env: A}, listn: 127.0.0.1:1}")
        #expect(typo.contains { $0.path == "admin.listn" && $0.severity == .error })
    }

    @Test func aRemoteListenerNeedsAllowRemote() throws {
        let refused = issues("admin: {listen: 0.0.0.0:8405, token: {env: A}}")
        #expect(refused.contains { $0.path == "admin.listen" && $0.severity == .error && $0.message.contains("allow_remote") })
        #expect(issues("admin: {listen: 10.0.0.5:8405, token: {env: A}}").contains { $0.path == "admin.listen" && $0.severity == .error })
        let (configuration, warnings) = try ConfigurationLoader.parse(Self.base + "admin: {listen: 0.0.0.0:8405, token: {env: A}, allow_remote: true}")
        #expect(configuration.admin?.allowRemote == true)
        #expect(warnings.contains { $0.path == "admin.listen" && $0.severity == .warning })
        #expect(issues("admin: {listen: localhost:8405, token: {env: A}}").isEmpty)
        #expect(issues("admin: {listen: 127.0.0.2:8405, token: {env: A}}").isEmpty)
    }

    @Test func theTokenResolvesLikeTheSecretsButIsNotHexDecoded() throws {
        let hex = String(repeating: "ab", count: 32)
        #expect(try SecretResolver.adminToken(.environment("T"), environment: ["T": hex]) == Array(hex.utf8))
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("tollgate-admin-token-\(UUID().uuidString)").path
        try "a-token-from-a-file-0123\n".write(toFile: file, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(atPath: file) }
        #expect(try SecretResolver.adminToken(.file(file), environment: [:]) == Array("a-token-from-a-file-0123".utf8))
        #expect(throws: ConfigurationError.self) { try SecretResolver.adminToken(.environment("MISSING"), environment: [:]) }
        #expect(throws: ConfigurationError.self) { try SecretResolver.adminToken(.environment("T"), environment: ["T": "short"]) }
        #expect(throws: ConfigurationError.self) { try SecretResolver.adminToken(.file(file + ".absent"), environment: [:]) }
    }
}
