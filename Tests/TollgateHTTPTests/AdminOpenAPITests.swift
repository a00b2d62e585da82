import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Testing
import TollgateCore
import TollgateHTTP
import TollgateSQLite

/// The admin API's OpenAPI document (`Admin/openapi.json`) against the router that serves it. The
/// schemathesis run in `Tests/Interop/test_admin_openapi.py` checks every operation's behaviour.
@Suite struct AdminOpenAPITests {
    static let token = AdminAPITests.token

    /// The router as `GatewayServer` builds it (metrics included), on a fresh SQLite store.
    static func router(_ fixture: AdminAPITests.Fixture) -> Router<BasicRequestContext> {
        AdminAPI.router(store: fixture.store, controls: fixture.controls, token: Array(token.utf8), metrics: GatewayMetrics(), logger: Listener.quiet)
    }

    static func document(_ client: any TestClientProtocol) async throws -> [String: Any] {
        let response = try await client.execute(uri: "/admin/openapi.json", method: .get, headers: AdminAPITests.headers())
        #expect(response.status == .ok)
        #expect(response.headers[.contentType] == "application/json")
        return try AdminAPITests.object(response)
    }

    @Test func theServedDocumentIsOpenAPI31() async throws {
        let fixture = try AdminAPITests.Fixture()
        defer { fixture.remove() }
        try await Application(router: Self.router(fixture), logger: Listener.quiet).test(.router) { client in
            let document = try await Self.document(client)
            let version = try #require(document["openapi"] as? String)
            #expect(version.hasPrefix("3.1."))
            let schemes = (document["components"] as? [String: Any])?["securitySchemes"] as? [String: [String: Any]]
            #expect(schemes?["adminToken"]?["scheme"] as? String == "bearer")
            #expect(document["security"] as? [[String: [String]]] == [["adminToken": []]])

            let denied = try await client.execute(uri: "/admin/openapi.json", method: .get, headers: AdminAPITests.headers(token: nil))
            #expect(denied.status == .unauthorized)
        }
    }

    /// Every route the router registers is a documented operation, and every documented operation a route.
    @Test func everyRouteIsDocumented() async throws {
        let fixture = try AdminAPITests.Fixture()
        defer { fixture.remove() }
        let router = Self.router(fixture)
        let routed = Set(router.routes.map { "\($0.method.rawValue) \($0.path.description)" })
        try await Application(router: router, logger: Listener.quiet).test(.router) { client in
            let document = try await Self.document(client)
            let paths = try #require(document["paths"] as? [String: [String: Any]])
            let methods: Set = ["get", "put", "post", "delete", "patch", "head", "options", "trace"]
            let documented = Set(paths.flatMap { path, item in item.keys.filter(methods.contains).map { "\($0.uppercased()) \(path)" } })
            #expect(routed.subtracting(documented).isEmpty, "routes missing from openapi.json")
            #expect(documented.subtracting(routed).isEmpty, "documented operations with no route")
            #expect(routed.contains("POST /admin/refunds/{id}/close"))
            #expect(routed.contains("GET /metrics"))
        }
    }

    /// `docs/admin-openapi.json` is the served document itself (a symlink), not a copy that can drift.
    @Test func theDocsCopyIsTheServedFile() throws {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        let docs = try Data(contentsOf: root.appendingPathComponent("docs/admin-openapi.json"))
        let source = try Data(contentsOf: root.appendingPathComponent("Sources/TollgateHTTP/Admin/openapi.json"))
        #expect(docs == source)
    }

    @Test func aWrongMethodIs405WithAllowAndAWrongPathA404() async throws {
        let fixture = try AdminAPITests.Fixture()
        defer { fixture.remove() }
        try await Application(router: Self.router(fixture), logger: Listener.quiet).test(.router) { client in
            let patch = try await client.execute(uri: "/admin/refunds", method: .patch, headers: AdminAPITests.headers())
            #expect(patch.status == .methodNotAllowed)
            #expect(patch.headers[.allow] == "GET, POST")
            #expect(try AdminAPITests.object(patch)["error"] as? String == "method_not_allowed")
            let put = try await client.execute(uri: "/admin/revocations/client/alice", method: .put, headers: AdminAPITests.headers())
            #expect(put.status == .methodNotAllowed)
            #expect(put.headers[.allow] == "DELETE")
            let nowhere = try await client.execute(uri: "/admin/nowhere", method: .get, headers: AdminAPITests.headers())
            #expect(nowhere.status == .notFound)
            #expect(try AdminAPITests.object(nowhere)["error"] as? String == "not_found")
            // Still behind the token.
            let anonymous = try await client.execute(uri: "/admin/refunds", method: .patch, headers: AdminAPITests.headers(token: nil))
            #expect(anonymous.status == .unauthorized)
        }
    }

    @Test func unknownBodyFieldsAreRefused() async throws {
        let fixture = try AdminAPITests.Fixture()
        defer { fixture.remove() }
        try await Application(router: Self.router(fixture), logger: Listener.quiet).test(.router) { client in
            let response = try await client.execute(uri: "/admin/revocations", method: .post, headers: AdminAPITests.headers(),
                                                    body: AdminAPITests.json(#"{"kind":"client","subject":"alice","reason":"x","reson":"y"}"#))
            #expect(response.status == .badRequest)
            #expect((try AdminAPITests.object(response)["reason"] as? String)?.contains("reson") == true)
        }
        #expect(try await fixture.store.loadControls() == ControlsSnapshot())
    }
}
