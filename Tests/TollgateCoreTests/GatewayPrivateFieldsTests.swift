import HTTPTypes
import Testing
import TollgateCore
import TollgateStoreConformance

/// `private_fields` applies wherever upstream content leaves the gateway, not only on a paid 200.
@Suite struct GatewayPrivateFieldsTests {
    static let rule = Route.PrivateFields(scope: "read:private", fields: ["secret"])
    static let body = Array(#"{"name":"ACME","secret":"s3","rows":[{"secret":1,"v":2}]}"#.utf8)

    static func harness() -> GatewayHarness {
        var free = Route(method: .get, path: PathPattern("/free/*")!, resource: "free", description: "free", mimeType: "application/json",
                         scope: nil, allowsAnonymous: true, pricing: nil)
        free.privateFields = rule
        var paid = GatewayHarness.datasets
        paid.privateFields = rule
        var package = GatewayMeteringTests.package
        package.privateFields = rule
        let harness = GatewayHarness(routes: RouteTable([free, paid, package]))
        harness.upstream.update { $0.body = body }
        return harness
    }

    static func leaks(_ response: GatewayResponse) -> Bool { response.text.contains("secret") }

    @Test func aFreeRouteIsFiltered() async {
        let harness = Self.harness()
        let response = await harness.send("/free/x", apiKey: nil)
        #expect(response.status == .ok)
        #expect(response.text.contains("ACME"))
        #expect(!Self.leaks(response))
    }

    @Test func anUpstreamErrorOnAPaidRouteIsFilteredAndNotCharged() async throws {
        let harness = Self.harness()
        let (_, proof) = try await harness.offerAndProof()
        harness.upstream.update { $0.status = .internalServerError }
        let response = await harness.send("/datasets/prices", proof: proof)
        #expect(response.status == .internalServerError)
        #expect(!Self.leaks(response))
        #expect(harness.rail.settleCalls == 0)
    }

    @Test func aPackageAnswerThatWasNotConsumedIsFiltered() async throws {
        let harness = Self.harness()
        await harness.store.setBalance(client: "alice", package: "bundle", units: 3)
        harness.upstream.update { $0.status = .notFound }
        let response = await harness.send("/bundle")
        #expect(response.status == .notFound)
        #expect(!Self.leaks(response))
    }

    @Test func aStoredAnswerIsServedFiltered() async throws {
        let harness = Self.harness()
        let (_, proof) = try await harness.offerAndProof()
        let paid = await harness.send("/datasets/prices", proof: proof)
        let again = await harness.send("/datasets/prices", proof: proof)
        #expect(paid.status == .ok)
        #expect(again.status == .ok)
        #expect(!Self.leaks(paid))
        #expect(!Self.leaks(again))
    }

    @Test func contentThatCannotBeFilteredIsNotPassedOn() async {
        let harness = Self.harness()
        harness.upstream.update { $0.body = Array("<html>secret: s3</html>".utf8) }
        let response = await harness.send("/free/x", apiKey: nil)
        #expect(response.status == .badGateway)
        #expect(!Self.leaks(response))
    }
}
