"""The learning lab's classroom: lessons run by a teacher on in-process exercise plants (never the pilot),
learners joining with a code and a pseudonym, results, exports and the counts for the city's KPIs."""
