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

    @Test func patternMustStartWithSlash() {
        #expect(PathPattern("datasets/*") == nil)
        #expect(PathPattern("") == nil)
    }
}
