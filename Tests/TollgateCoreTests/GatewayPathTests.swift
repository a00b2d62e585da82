import HTTPTypes
import Testing
import TollgateCore

/// Routes are matched on the normalised path, and the upstream receives that same path, so another spelling
/// never reaches a route at another route's price or past its scope.
@Suite struct GatewayPathTests {
    @Test func anEncodedSpellingIsTheRouteItSpells() async throws {
        let harness = GatewayHarness()
        // bob holds no `reports` scope: the encoded spelling of /reports is refused like the plain one.
        let encoded = await harness.send("/%72eports/daily", apiKey: GatewayHarness.bobKey)
        #expect(encoded.status == .forbidden)
        #expect(encoded.reason == "missing_scope")
    }

    @Test func theOfferAndTheUpstreamSeeTheNormalisedPath() async throws {
        let harness = GatewayHarness()
        let (offer, proof) = try await harness.offerAndProof("/datasets/%70rices?day=%31")
        #expect(offer.status == .paymentRequired)

        // Paying for the encoded spelling pays for the plain one: one request, one spelling.
        let paid = await harness.send("/datasets/prices?day=%31", proof: proof)

        #expect(paid.status == .ok)
        #expect(harness.upstream.received.first?.target == "/datasets/prices?day=%31")
    }

    @Test(arguments: ["/datasets/%2e%2e/reports/daily", "/datasets/a%2f..%2freports", "/datasets/%252e%252e/x", "/datasets/%c0%ae%c0%ae/x",
                      "/datasets/x%00", "/datasets\\..\\reports", "/datasets/prices#x", "/datasets/prices?day=1#x", "/datasets/..;/reports/daily"])
    func ambiguousSpellingsAreABadRequestNeverAPrice(path: String) async {
        let harness = GatewayHarness()
        let response = await harness.send(path)
        #expect(response.status == .badRequest)
        #expect(response.reason == "unsafe_path")
        #expect(response.offerTokens.isEmpty)
        #expect(harness.upstream.received.isEmpty)
    }
}
