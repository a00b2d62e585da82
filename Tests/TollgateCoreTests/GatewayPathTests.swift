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

    /// A literal `/reports/premium` before a cheaper `/reports/*`: which route `/reports/PREMIUM` belongs to depends on
    /// whether the upstream ignores case (one that does serves the premium report for it).
    static func caseTable(_ pathCase: PathCase) throws -> RouteTable {
        var premium = GatewayHarness.pricing
        premium.price = "0.05"
        premium.accepts = [.init(asset: GatewayHarness.asset, amount: try #require(TokenAmount(atomic: "50000")), payTo: GatewayHarness.payTo)]
        return RouteTable([
            Route(method: .get, path: try #require(PathPattern("/reports/premium")), resource: "premium", description: "premium",
                  mimeType: "application/json", scope: nil, allowsAnonymous: false, pricing: premium),
            Route(method: .get, path: try #require(PathPattern("/reports/*")), resource: "reports", description: "reports",
                  mimeType: "application/json", scope: nil, allowsAnonymous: false, pricing: GatewayHarness.pricing),
        ], pathCase: pathCase)
    }

    /// Unstated (the default), the one request whose letter case decides its price is refused: never the cheaper price,
    /// never the upstream, and the audit names the route the case would have reached.
    @Test(arguments: ["/reports/PREMIUM", "/reports/pREMIUM", "/reports/Premium;v=1", "/reports/PREM%C4%B0UM", "/reports/%50remium"])
    func aPathWhoseLetterCaseDecidesItsRouteIsRefusedUnlessTheUpstreamIsKnown(path: String) async throws {
        let harness = GatewayHarness(routes: try Self.caseTable(.unknown))
        let response = await harness.send(path)
        #expect(response.status == .badRequest)
        #expect(response.reason == "ambiguous_path")
        #expect(response.offerTokens.isEmpty)
        #expect(harness.upstream.received.isEmpty)
        let events = try await harness.events(response.correlationId)
        #expect(events.contains { $0.stage == .route && $0.outcome == .denied && $0.reason == "ambiguous_path" && $0.resource == "premium" })

        // Stated, the route is the one the upstream serves.
        let exact = await GatewayHarness(routes: try Self.caseTable(.sensitive)).send(path)
        #expect(exact.status == .paymentRequired)
        #expect(exact.json?.price == "0.01")
        let folded = await GatewayHarness(routes: try Self.caseTable(.insensitive)).send(path)
        #expect(folded.status == .paymentRequired)
        #expect(folded.json?.price == "0.05")
    }

    /// A route written with capitals folds every spelling onto it, lowercase included, and a path no route matches as
    /// written but one matches ignoring case is refused, never passed through free (`unmatched: pass`).
    @Test func aRouteWithCapitalsAndAnUnmatchedPathAreAmbiguousToo() throws {
        let premium = Route(method: .get, path: try #require(PathPattern("/reports/Premium")), resource: "premium", description: "premium",
                            mimeType: "application/json", scope: nil, allowsAnonymous: false, pricing: GatewayHarness.pricing)
        let rest = Route(method: .get, path: try #require(PathPattern("/reports/*")), resource: "reports", description: "reports",
                         mimeType: "application/json", scope: nil, allowsAnonymous: false, pricing: nil)
        let table = RouteTable([premium, rest], pathCase: .unknown)
        guard case .ambiguous(let folded, let exactly) = table.resolve(method: .get, path: "/reports/premium") else {
            Issue.record("a lowercase spelling of a route with capitals was not ambiguous")
            return
        }
        #expect(folded.resource == "premium")
        #expect(exactly?.resource == "reports")
        guard case .route(let exact) = table.resolve(method: .get, path: "/reports/Premium") else {
            Issue.record("the route's own spelling was not its route")
            return
        }
        #expect(exact.resource == "premium")
        let alone = RouteTable([premium], pathCase: .unknown)
        guard case .ambiguous(_, nil) = alone.resolve(method: .get, path: "/REPORTS/PREMIUM") else {
            Issue.record("a path matching only ignoring case was not ambiguous")
            return
        }
        guard case .none = RouteTable([premium], pathCase: .sensitive).resolve(method: .get, path: "/REPORTS/PREMIUM") else {
            Issue.record("sensitive matching folded case")
            return
        }
    }

    /// Only a case that changes the route is refused: other paths in any case keep their route.
    @Test(arguments: ["/reports/premium", "/reports/daily", "/reports/DAILY", "/reports/Premium-2024"])
    func aPathWhoseRouteDoesNotDependOnCaseIsServed(path: String) async throws {
        let response = await GatewayHarness(routes: try Self.caseTable(.unknown)).send(path)
        #expect(response.status == .paymentRequired)
        #expect(response.json?.price == (path == "/reports/premium" ? "0.05" : "0.01"))
    }
}
