import HTTPTypes
import Testing
import TollgateCore

/// Route, identity and authorization: refusals that are never a 402, and free routes.
@Suite struct GatewayAccessTests {
    @Test func unknownRouteIs404() async throws {
        let harness = GatewayHarness()
        let response = await harness.send("/nowhere")
        #expect(response.status == .notFound)
        #expect(response.reason == "no_route")
        #expect(response.json?.error == "not_found")
        #expect(response.offerTokens.isEmpty)
        #expect(harness.upstream.received.isEmpty)
        let events = try await harness.events(response.correlationId)
        #expect(events.map(\.stage) == [.route])
        #expect(events.first?.reason == "no_route")
    }

    @Test(arguments: ["/datasets/../admin", "/datasets/./a", "/datasets/%2e%2e/admin", "/datasets/a%2Fb", "/datasets/%2E/a",
                      "/datasets/a%5cb", "/datasets\\a"])
    func unsafePathIs400(target: String) async throws {
        let harness = GatewayHarness()
        let response = await harness.send(target)
        #expect(response.status == .badRequest)
        #expect(response.reason == "unsafe_path")
        #expect(response.offerTokens.isEmpty)
        #expect(harness.upstream.received.isEmpty)
    }

    @Test func unknownAPIKeyIs401WithoutTerms() async throws {
        let harness = GatewayHarness()
        let response = await harness.send("/datasets/prices", apiKey: "not-a-key")
        #expect(response.status == .unauthorized)
        #expect(response.reason == "unknown_api_key")
        #expect(response.headerFields[.wwwAuthenticate] != nil)
        #expect(response.headerFields[ScriptedRail.termsField] == nil)
        #expect(response.json?.price == nil)
        let events = try await harness.events(response.correlationId)
        #expect(events.map(\.stage) == [.identify])
        #expect(!events.contains { $0.stage == .offer })
    }

    @Test func anonymousCallerOnKeyOnlyRouteIs401() async throws {
        let harness = GatewayHarness()
        let response = await harness.send("/datasets/prices", apiKey: nil)
        #expect(response.status == .unauthorized)
        #expect(response.reason == "missing_credentials")
        #expect(response.offerTokens.isEmpty)
        let events = try await harness.events(response.correlationId)
        #expect(events.count == 1)
        #expect(events.first?.reason == "missing_credentials")
        #expect(events.first?.clientId == "anonymous")
    }

    @Test func clientWithoutScopeIs403WithoutTerms() async throws {
        let harness = GatewayHarness()
        let response = await harness.send("/reports/q1", apiKey: GatewayHarness.bobKey)
        #expect(response.status == .forbidden)
        #expect(response.reason == "missing_scope")
        #expect(response.json?.scope == "reports")
        #expect(response.offerTokens.isEmpty)
        let events = try await harness.events(response.correlationId)
        #expect(events.map(\.stage) == [.authorize])
        #expect(events.first?.clientId == "bob")

        let allowed = await harness.send("/reports/q1", apiKey: GatewayHarness.aliceKey)
        #expect(allowed.status == .paymentRequired)
    }

    @Test func freeRouteIsForwardedWithSignedContractAndWithoutClientCredentials() async throws {
        let harness = GatewayHarness()
        let sent: HTTPFields = [
            ScriptedRail.proofField: "{}", ScriptedRail.legacyProofField: "legacy",
            .tollgateClient: "mallory", .tollgatePayer: "0xevil", .tollgateAmount: "1000000 usdc", .tollgateUnit: "request=999",
            .tollgateCorrelationId: "tg_forged", .tollgateSignature: "v1 kid=c1 sig=00", .tollgateTimestamp: "1",
            .accept: "application/json",
        ]
        let response = await harness.send("/health?verbose=1", fields: sent)
        #expect(response.status == .ok)
        #expect(response.text == "the data")
        #expect(harness.rail.verifyCalls == 0)

        let forwarded = try #require(harness.upstream.received.first)
        let fields = forwarded.headerFields
        #expect(forwarded.target == "/health?verbose=1")
        #expect(harness.isSigned(forwarded))
        #expect(fields[.tollgateClient] == "alice")
        #expect(fields[.tollgatePayer] == "")
        #expect(fields[.tollgateAmount] == "")
        #expect(fields[.tollgateCorrelationId] == response.correlationId)
        // Every proof field the rail declares is removed, the one it reads and the one it only refuses.
        #expect(fields[ScriptedRail.proofField] == nil)
        #expect(fields[ScriptedRail.legacyProofField] == nil)
        #expect(fields[ClientDirectory.apiKeyField] == nil)
        #expect(fields[.accept] == "application/json")
        for name in [HTTPField.Name.tollgateClient, .tollgatePayer, .tollgateAmount, .tollgateUnit, .tollgateCorrelationId,
                     .tollgateSignature, .tollgateTimestamp] {
            #expect(fields[values: name].count == 1, "\(name) must appear once, set by the gateway")
        }
    }

    @Test func bearerTokenIsStrippedToo() async throws {
        let harness = GatewayHarness()
        let response = await harness.send("/health", apiKey: nil, fields: [.authorization: "Bearer \(GatewayHarness.aliceKey)"])
        #expect(response.status == .ok)
        let fields = try #require(harness.upstream.received.first).headerFields
        #expect(fields[.authorization] == nil)
        #expect(fields[.tollgateClient] == "alice")
    }

    /// docs/upstream-contract.md: the backend must be able to trust every `Tollgate-*` field it sees.
    @Test func unknownTollgatePrefixedFieldsAreStripped() async throws {
        let harness = GatewayHarness()
        _ = await harness.send("/health", fields: [HTTPField.Name("Tollgate-Scope")!: "admin", HTTPField.Name("Tollgate-Refund")!: "yes"])
        let fields = try #require(harness.upstream.received.first).headerFields
        #expect(fields[HTTPField.Name("Tollgate-Scope")!] == nil)
        #expect(fields[HTTPField.Name("Tollgate-Refund")!] == nil)
    }
}

@Suite struct GatewayActionScopeTests {
    @Test func actionsNeedTheirOwnScopeBeforeAnyPrice() async throws {
        let harness = GatewayHarness()
        #expect(await harness.send("/datasets/prices").status == .paymentRequired)
        let export = await harness.send("/datasets/prices?format=csv&export=1")
        #expect(export.status == .forbidden)
        #expect(export.reason == "missing_scope")
        #expect(export.json?.scope == "datasets:export")
        #expect(export.offerTokens.isEmpty)
        let delete = await harness.send("/datasets/prices", method: .delete)
        #expect(delete.status == .forbidden)
        #expect(delete.json?.scope == "datasets:admin")
        #expect(await harness.send("/datasets/prices?exported=1").status == .paymentRequired)
        // Spelled with percent-encoding, it is still the export action the upstream will see.
        #expect(await harness.send("/datasets/prices?expor%74=1").status == .forbidden)
    }
}
