// pgJDBC probe for test/pg/jdbc.test.ts: what DBeaver and Metabase do first through JDBC.
// Prints one line per check, tab-separated, for the test to compare.
import java.sql.*;

public class JdbcProbe {
  public static void main(String[] args) throws Exception {
    try (Connection c = DriverManager.getConnection(args[0], "jdbc", args.length > 1 ? args[1] : "")) {
      DatabaseMetaData md = c.getMetaData();
      System.out.println("product\t" + md.getDatabaseProductName() + "\t" + md.getDatabaseMajorVersion());
      try (ResultSet rs = md.getTables(null, "public", "%", new String[] {"TABLE", "VIEW"})) {
        while (rs.next()) System.out.println("table\t" + rs.getString("TABLE_SCHEM") + "\t" + rs.getString("TABLE_NAME") + "\t" + rs.getString("TABLE_TYPE"));
      }
      try (ResultSet rs = md.getColumns(null, "public", "trades_per_min", "%")) {
        while (rs.next()) System.out.println("column\t" + rs.getString("COLUMN_NAME") + "\t" + rs.getString("TYPE_NAME") + "\t" + rs.getInt("DATA_TYPE") + "\t" + rs.getInt("ORDINAL_POSITION"));
      }
      try (PreparedStatement ps = c.prepareStatement("SELECT window_start, sym, n, avg_price FROM trades_per_min WHERE sym = ? AND n >= ? ORDER BY window_start")) {
        for (int round = 0; round < 6; round++) { // pgJDBC switches to a named server-side statement after 5 runs
          ps.setString(1, round % 2 == 0 ? "BOLT" : "ACME");
          ps.setLong(2, 1);
          try (ResultSet rs = ps.executeQuery()) {
            ResultSetMetaData m = rs.getMetaData();
            while (rs.next()) {
              System.out.println("row\t" + round + "\t" + m.getColumnTypeName(1) + "\t" + rs.getTimestamp(1).toInstant() + "\t" + rs.getString(2) + "\t" + rs.getLong(3) + "\t" + rs.getDouble(4));
            }
          }
        }
      }
      // A fetch size inside a transaction: pgJDBC executes a named portal 2 rows at a time (PortalSuspended, then resumes).
      c.setAutoCommit(false);
      try (Statement s = c.createStatement()) {
        s.setFetchSize(2);
        try (ResultSet rs = s.executeQuery("SELECT sym, n FROM trades_per_min ORDER BY window_start, sym")) {
          StringBuilder b = new StringBuilder();
          int n = 0;
          while (rs.next()) { n++; b.append(rs.getString(1)).append(':').append(rs.getLong(2)).append(' '); }
          System.out.println("fetch\t" + n + "\t" + b.toString().trim());
        }
      }
      c.commit();
      c.setAutoCommit(true);
      try (Statement s = c.createStatement()) {
        s.executeQuery("SELECT nope FROM trades_per_min");
      } catch (SQLException e) {
        System.out.println("error\t" + e.getSQLState());
      }
    }
  }
}
