DROP TABLE outline_workflows;
