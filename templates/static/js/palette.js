// Pages with server-rendered service chips load this to colour them.
import { paintServiceChips } from "./dom.js";

paintServiceChips();
