"""Scale-out: several collector processes in front of one ClickHouse."""
