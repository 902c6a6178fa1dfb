import { sqlite } from "./support/backends.ts"
import { alertRulesSuite } from "./support/alertRulesSuite.ts"
import { storeSuite } from "./support/suite.ts"

storeSuite(sqlite("worker"))
alertRulesSuite(sqlite("worker"))
storeSuite(sqlite("main"))
