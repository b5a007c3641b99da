// The PostgreSQL JDBC driver (Debian's libpostgresql-jdbc-java) browsing the
// custmart server as Tableau and DBeaver do, through DatabaseMetaData.
// Run by jdbc_test.go: java -cp <driver>:<dir> JdbcClient <url> <user> <password>.
// Prints one tab-separated line per metadata row, prefixed with its call.
import java.sql.Connection;
import java.sql.DatabaseMetaData;
import java.sql.DriverManager;
import java.sql.ResultSet;
import java.sql.Statement;

public class JdbcClient {
    public static void main(String[] args) throws Exception {
        try (Connection conn = DriverManager.getConnection(args[0], args[1], args[2])) {
            DatabaseMetaData md = conn.getMetaData();
            System.out.println("product\t" + md.getDatabaseProductName() + "\t" + md.getDatabaseMajorVersion());
            print("schema", md.getSchemas(), "TABLE_SCHEM");
            print("table", md.getTables(null, "main", "%", new String[] {"TABLE", "VIEW"}), "TABLE_NAME", "TABLE_TYPE");
            print("column", md.getColumns(null, "main", "rfm", "%"), "COLUMN_NAME", "TYPE_NAME", "DATA_TYPE", "ORDINAL_POSITION");
            print("pk", md.getPrimaryKeys(null, "main", "rfm"), "COLUMN_NAME", "KEY_SEQ", "PK_NAME");
            print("remarks", md.getColumns(null, "main", "rfm", "r_score"), "REMARKS");
            print("table remarks", md.getTables(null, "main", "rfm", null), "REMARKS");
            try (Statement st = conn.createStatement();
                 ResultSet rs = st.executeQuery("SELECT count(*) FROM rfm")) {
                rs.next();
                System.out.println("count\t" + rs.getLong(1));
            }
        }
    }

    static void print(String call, ResultSet rs, String... columns) throws Exception {
        try (rs) {
            while (rs.next()) {
                StringBuilder line = new StringBuilder(call);
                for (String c : columns) {
                    line.append('\t').append(rs.getString(c));
                }
                System.out.println(line);
            }
        }
    }
}
