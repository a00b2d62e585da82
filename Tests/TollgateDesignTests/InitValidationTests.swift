import Foundation
import Testing
import TollgateConfiguration
import TollgateCore
import TollgateDesign

/// Answers `tollgate init` must refuse, each with the reason shown to the person answering.
@Suite struct InitValidationTests {
    /// A complete, valid set of answers to break one answer at a time.
    static var valid: InitAnswers {
        var answers = InitAnswers()
        answers.resource = .init(name: "datasets", upstream: "http://127.0.0.1:8403")
        answers.callers = ["agent"]
        answers.billing = .init(price: "0.01", payTo: "0x209693Bc6afc0C5328bA36FaF03C514EF312287C")
        return answers
    }

    static func problems(_ change: (inout InitAnswers) -> Void) -> [InitAnswerError] {
        var answers = valid
        change(&answers)
        do {
            _ = try InitPlan(answers)
            return []
        } catch {
            return error.problems
        }
    }

    static func refusal(_ field: InitField, _ text: String) -> InitAnswerError? {
        var answers = valid
        do throws(InitAnswerError) {
            try field.apply(text, to: &answers)
            return nil
        } catch {
            return error
        }
    }

    @Test func theValidAnswersPlanWithDefaults() throws {
        let plan = try InitPlan(Self.valid)
        #expect(plan.paths == ["/datasets/*"] && plan.method == "GET" && plan.identities == [.anonymous])
        #expect(plan.unit == .request && plan.network == .baseSepolia && plan.asset.address == "0x036CbD53842c5426634e7929541eC2318f3dCF7e")
        #expect(plan.facilitators == ["http://127.0.0.1:8404"] && plan.settle == "after" && plan.admin?.tokenEnv == "TOLLGATE_ADMIN_TOKEN")
    }

    @Test(arguments: [
        (InitField.upstream, "ftp://example.com", "is not an http(s) URL"),
        (.upstream, "not a url", "is not an http(s) URL"),
        (.payTo, "0x1234", "is not an address"),
        (.payTo, "0x0000000000000000000000000000000000000000", "zero address"),
        (.price, "0", "must be positive"),
        (.price, "-1", "must be positive"),
        (.price, "abc", "is not a decimal amount"),
        (.price, "0.0000001", "more than 6 decimals"),
        (.unit, "kilogram", "unknown unit \"kilogram\""),
        (.callers, "robot", "unknown caller \"robot\""),
        (.callers, "none", "name at least one caller"),
        (.identities, "password", "unknown identity"),
        (.paths, "datasets", "is not a path pattern"),
        (.resourceName, "my api", "may only use letters"),
        (.quantity, "header:X", "is not a quantity source"),
        (.records, "count", "does not say how records are counted"),
        (.unpaid, "fast", "is not a rate"),
        (.unpaid, "0/10", "must be a positive number"),
        (.retentionDays, "0", "between 1 and 36500"),
        (.adminListen, "0.0.0.0:8405", "is not a loopback address"),
        (.readOnly, "maybe", "answer yes or no"),
        (.actionScopes, "export", "is not ACTION=SCOPE"),
    ])
    func badAnswersAreRefusedWithTheReason(_ field: InitField, _ text: String, _ reason: String) throws {
        let refusal = try #require(Self.refusal(field, text), "\(field.rawValue) accepted \(text)")
        #expect(refusal.code == .invalid && refusal.field == field.rawValue)
        #expect(refusal.message.contains(reason), "\(refusal.message)")
    }

    @Test func aScopeOnAResourceOpenToAnonymousPayersIsAConflict() {
        let problems = Self.problems { $0.permissions.scope = "datasets:read" }
        #expect(problems.map(\.field) == ["permissions.scope"] && problems.first?.code == .conflict)
        #expect(problems.first?.message.contains("anonymous callers hold none") == true)
    }

    @Test func aPackageNeedsIdentifiedClients() {
        let problems = Self.problems { $0.billing.unit = "package" }
        #expect(problems.contains { $0.field == "billing.unit" && $0.code == .conflict && $0.message.contains("prepaid balance") })
    }

    @Test func aQuotaNeedsIdentifiedClients() {
        let problems = Self.problems { $0.limits.quota = .init(max: 10) }
        #expect(problems.contains { $0.field == "limits.quota" && $0.code == .conflict })
    }

    @Test func aMinutePriceMustSplitIntoSeconds() throws {
        var answers = Self.valid
        answers.billing.unit = "minute"
        answers.billing.price = "0.06"
        #expect(try InitPlan(answers).routePrice == "0.001")
        let problems = Self.problems { $0.billing.unit = "minute"; $0.billing.price = "0.000001" }
        #expect(problems.contains { $0.field == "billing.price" && $0.message.contains("per minute") })
    }

    @Test func mainNetNeedsAProductionFacilitator() {
        let missing = Self.problems { $0.billing.network = "base" }
        #expect(missing.contains { $0.field == "failures.facilitators" && $0.code == .missing })
        let loopback = Self.problems { $0.billing.network = "base"; $0.failures.facilitators = ["http://127.0.0.1:8404", "https://f.example.com"] }
        #expect(loopback.contains { $0.field == "failures.facilitators" && $0.message.contains("TG116") })
    }

    @Test func denialsAreAlwaysAudited() {
        let problems = Self.problems { $0.audit.denials = "none" }
        #expect(problems.contains { $0.field == "audit.denials" && $0.message.contains("TG114") })
    }

    @Test func settleBeforeWithoutRefundsOrPayoutIsRefused() {
        let problems = Self.problems { $0.failures.settle = "before"; $0.failures.refunds = .init(automatic: false) }
        #expect(problems.contains { $0.field == "failures.refunds.automatic" && $0.message.contains("TG111") })
    }

    @Test func everyMissingAnswerIsListedAtOnce() {
        do {
            _ = try InitPlan(InitAnswers())
            Issue.record("empty answers were accepted")
        } catch {
            #expect(error.missing.map(\.field) == ["resource.name", "resource.upstream", "callers", "billing.price", "billing.pay_to"])
            #expect(error.problems.allSatisfy { $0.code == .missing })
        }
    }

    @Test func jwtAnswersAreRequiredWithJWT() {
        let problems = Self.problems { $0.callers = ["human"] }
        #expect(problems.map(\.field) == ["identity.jwt.issuer", "identity.jwt.jwks_file"])
        #expect(problems.allSatisfy { $0.code == .missing })
    }

    @Test func theAnswersFileRefusesUnknownKeysAndWrongTypes() {
        #expect(throws: InitAnswersError.self) { try InitAnswersFile.parse("resource: {name: x}\nbiling: {price: '1'}\n") }
        do {
            _ = try InitAnswersFile.parse("resource:\n  name: x\n  upstrem: http://x\n")
            Issue.record("an unknown key was accepted")
        } catch {
            #expect(error.problems.map(\.field) == ["resource.upstrem"] && error.problems.first?.code == .unknownKey)
            #expect(error.problems.first?.message.contains("line 3") == true)
        }
        do {
            _ = try InitAnswersFile.parse("billing:\n  package_size: many\n")
            Issue.record("a text package size was accepted")
        } catch {
            #expect(error.problems.first?.field == "billing.package_size")
            #expect(error.problems.first?.message.contains("a whole number") == true)
        }
    }

    /// Numbers that stopped `tollgate init` with an arithmetic trap are refused: a base-60 whole number (Yams builds it with
    /// unchecked multiplications) and a rate with no burst that is infinite, not a number or beyond an `Int`.
    @Test func hostileNumbersAreRefusedNotTrapped() {
        for text in ["billing:\n  package_size: 1:0:0:0:0:0:0:0:0:0:0\n", "billing:\n  package_size: 9223372036854775807:0\n"] {
            do {
                _ = try InitAnswersFile.parse(text)
                Issue.record("a base-60 number was accepted")
            } catch {
                #expect(error.problems.first?.field == "billing.package_size" && error.problems.first?.message.contains("base-60") == true,
                        "\(error.problems)")
            }
        }
        for rate in ["inf", "nan", "1e19", "-inf"] {
            #expect(throws: InitAnswerError.self) { try InitCheck.rate(rate, field: "unpaid") }
        }
        // Read from a file without a burst, an infinite rate is kept for the check, which refuses it.
        #expect(throws: InitAnswerError.self) {
            try InitCheck.rate(try #require(try InitAnswersFile.parse("limits:\n  unpaid: {rate_per_second: .inf}\n").limits.unpaid), field: "unpaid")
        }
    }

    @Test func theAnswersFileReadsJSONAndUnquotedNumbers() throws {
        let answers = try InitAnswersFile.parse(#"{"billing": {"price": 0.10, "quantity": {"query": "limit", "max": 5}}, "callers": ["agent"]}"#)
        #expect(answers.billing.price == "0.10" && answers.billing.quantity?.max == 5 && answers.callers == ["agent"])
    }

    @Test func flagTextRoundTripsThroughTheAnswers() throws {
        var answers = InitAnswers()
        for (field, text) in [(InitField.quantity, "query:limit"), (.quantityMax, "250"), (.unpaid, "5/10"), (.actionScopes, "?export=d:export, DELETE=d:admin"),
                              (.records, "json_array:data.items")] {
            try field.apply(text, to: &answers)
        }
        #expect(InitField.quantity.text(in: answers) == "query:limit" && InitField.unpaid.text(in: answers) == "5/10")
        #expect(InitField.actionScopes.text(in: answers) == "?export=d:export, DELETE=d:admin")
        #expect(answers.billing.records == .init(jsonArray: "data.items"))
    }

    @Test func theDocumentedAnswersFileIsValid() throws {
        let docs = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("../../docs/init.md").standardizedFileURL
        let text = try String(contentsOf: docs, encoding: .utf8)
        let marker = try #require(text.range(of: "<!-- init-answers-example -->\n```yaml\n"), "docs/init.md lost its example")
        let example = String(text[marker.upperBound...]).components(separatedBy: "\n```").first ?? ""
        let plan = try InitPlan(try InitAnswersFile.parse(example))
        #expect(plan.paths.count == 2 && plan.invalid == .off && plan.sqlite == "/var/lib/tollgate/gateway.sqlite")
        let (configuration, _) = try ConfigurationLoader.parse(InitGenerator { "tg_\($0)" }.generate(plan).yaml)
        #expect(!ConfigurationLint.run(configuration).contains { $0.severity == .error })
    }
}
