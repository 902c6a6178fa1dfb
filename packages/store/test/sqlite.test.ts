import { sqlite } from "./support/backends.ts"
import { storeSuite } from "./support/suite.ts"

storeSuite(sqlite("worker"))
storeSuite(sqlite("main"))
