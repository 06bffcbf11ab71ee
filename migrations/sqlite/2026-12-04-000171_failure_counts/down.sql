DROP TABLE failure_counts;
