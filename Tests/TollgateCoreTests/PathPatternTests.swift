import Testing
import TollgateCore

@Suite struct PathPatternTests {
    @Test(arguments: ["/datasets/a", "/datasets/a/b", "/datasets/prices/2024/01"])
    func trailingWildcardMatchesEverythingBelowThePrefix(path: String) throws {
        #expect(try #require(PathPattern("/datasets/*")).matches(Substring(path)))
    }

    @Test(arguments: ["/datasets", "/datasets/", "/datasetsX/a", "/other/a", "/", "/a/datasets/x"])
    func trailingWildcardNeedsSomethingBelowThePrefix(path: String) throws {
        #expect(!(try #require(PathPattern("/datasets/*")).matches(Substring(path))))
    }

    @Test func literalPatternMatchesExactly() throws {
        let health = try #require(PathPattern("/health"))
        #expect(health.matches("/health"))
        #expect(!health.matches("/health/x"))
        #expect(!health.matches("/healthz"))
        #expect(!health.matches("/"))
    }

    @Test func innerWildcardMatchesOneSegment() throws {
        let pattern = try #require(PathPattern("/users/*/profile"))
        #expect(pattern.matches("/users/42/profile"))
        #expect(!pattern.matches("/users/42/7/profile"))
        #expect(!pattern.matches("/users/profile"))
    }

    /// The reading in place agrees with splitting the path (the matcher it replaced) on paths made of the patterns' own
    /// segments, empty segments and canonically equivalent spellings (`é` composed and decomposed), inside a longer string.
    @Test func matchingInPlaceAgreesWithSplitting() throws {
        func reference(_ pattern: String, _ path: Substring) -> Bool {
            var segments = pattern.split(separator: "/", omittingEmptySubsequences: true).map(String.init)
            let rest = segments.last == "*" && pattern.hasSuffix("/*")
            if rest { segments.removeLast() }
            var index = 0
            for part in path.split(separator: "/", omittingEmptySubsequences: true) {
                if index == segments.count { return rest }
                if segments[index] != "*", segments[index] != String(part) { return false }
                index += 1
            }
            return index == segments.count && !rest
        }
        let patterns = ["/datasets/*", "/caf\u{E9}/*", "/users/*/profile", "/health", "/a/b"]
        let parts = ["datasets", "caf\u{E9}", "cafe\u{301}", "users", "*", "profile", "health", "a", "b", "", "x y"]
        var generator = SystemRandomNumberGenerator()
        for _ in 0..<3000 {
            let path = "/" + (0..<Int.random(in: 0...4, using: &generator)).map { _ in parts.randomElement(using: &generator)! }.joined(separator: "/")
                + (Bool.random(using: &generator) ? "/" : "")
            let padded = "GET " + path + "?q=1"
            let slice = padded.dropFirst(4).prefix(path.count)
            for text in patterns {
                let pattern = try #require(PathPattern(text))
                #expect(pattern.matches(slice) == reference(text, slice), "\(text) against \(path)")
            }
        }
        #expect(try #require(PathPattern("/caf\u{E9}/*")).matches("/cafe\u{301}/menu"))
    }

    /// Servers that strip path parameters (Spring, Tomcat) serve `premium` for `premium;v=1`: the route of `premium`
    /// prices it, never a cheaper wildcard after it.
    @Test func pathParametersAreLeftOutOfTheComparison() throws {
        let premium = try #require(PathPattern("/reports/premium"))
        #expect(premium.matches("/reports/premium;v=1"))
        #expect(premium.matches("/reports/premium;"))
        #expect(!premium.matches("/reports/premiumx;v=1"))
        #expect(!premium.matches("/reports/prem;ium"))
        #expect(try #require(PathPattern("/users/*/profile")).matches("/users/42;x/profile;y"))
        // Nothing before the parameters: an empty segment, as `//` is (`/;x/premium` is `//premium`, then `/premium`).
        #expect(try #require(PathPattern("/premium")).matches("/;x/premium"))
        #expect(try #require(PathPattern("/reports/premium")).matches("/reports/;x/premium"))
    }

    /// A `/` followed by a combining mark is one `Character` with it, but a separator to an upstream server: the path is
    /// below `/datasets`, and a paid route there must match it (splitting by characters missed it, and such a request
    /// fell to the unmatched policy).
    @Test func aSlashBeforeACombiningMarkStillSeparatesSegments() throws {
        let pattern = try #require(PathPattern("/datasets/*"))
        #expect(pattern.matches("/datasets/\u{301}x"))
        #expect(pattern.matches("/datasets/\u{200D}prices/2024"))
        #expect(!pattern.matches("/datasets\u{301}/x"))
    }

    /// A pattern and a request may spell a non-ASCII letter raw or escaped (the normalised path keeps it escaped, a route
    /// is usually written raw): the upstream decodes both, so the route prices both.
    @Test func escapedAndRawLettersAreTheSameSegment() throws {
        let written = try #require(PathPattern("/caf\u{E9}/menu"))
        #expect(written.matches("/caf%C3%A9/menu"))
        #expect(written.matches("/caf\u{E9}/menu"))
        #expect(written.matches("/cafe%CC%81/menu"))
        #expect(!written.matches("/caf%C3%A8/menu"))
        let escaped = try #require(PathPattern("/caf%c3%a9/*"))
        #expect(escaped.matches("/caf\u{E9}/x"))
        #expect(escaped.matches("/caf%C3%A9/x;v=1"))
        // An escape that does not decode to UTF-8 is compared as written, never as another letter.
        #expect(!written.matches("/caf%E9/menu"))
    }

    /// `PathCase.insensitive`: a literal segment matches whatever the letter case, as the backends that ignore it compare.
    @Test func ignoringCaseMatchesTheSpellingsCaseInsensitiveServersServe() throws {
        let premium = try #require(PathPattern("/reports/premium"))
        // `İ` and `ı` (Java and .NET fold them onto `i`), raw or escaped.
        for path in ["/reports/PREMIUM", "/Reports/Premium", "/REPORTS/premium;v=1", "/reports/PREM%C4%B0UM",
                     "/reports/PREM\u{130}UM", "/reports/prem\u{131}um"] {
            #expect(!premium.matches(Substring(path)), "\(path)")
            #expect(premium.matches(Substring(path), ignoringCase: true), "\(path)")
        }
        let kelvin = try #require(PathPattern("/keys/*"))
        #expect(kelvin.matches("/\u{212A}EYS/a", ignoringCase: true))
        #expect(kelvin.matches("/%E2%84%AAeys/a", ignoringCase: true))
        #expect(try #require(PathPattern("/files/s")).matches("/files/\u{17F}", ignoringCase: true))
        // Java's `toLowerCase(toUpperCase(c))`: `ı` and `İ` are one letter.
        #expect(try #require(PathPattern("/x/\u{131}")).matches("/x/\u{130}", ignoringCase: true))
        // A letter with a combining mark is another letter, never the bare one (nor `é` spelt decomposed).
        #expect(!premium.matches("/reports/p%CC%81remium", ignoringCase: true))
        #expect(!premium.matches("/reports/p\u{301}remium", ignoringCase: true))
        #expect(try #require(PathPattern("/caf\u{E9}")).matches("/CAFE%CC%81", ignoringCase: true))
        #expect(!premium.matches("/reports/premiums", ignoringCase: true))
        #expect(!premium.matches("/reports/premiun", ignoringCase: true))
        #expect(!premium.matches("/reports/PREMIUM/x", ignoringCase: true))
    }

    @Test func patternMustStartWithSlash() {
        #expect(PathPattern("datasets/*") == nil)
        #expect(PathPattern("") == nil)
    }
}
