DROP TABLE maintenance_marks;
